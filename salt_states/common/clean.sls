# -*- coding: utf-8 -*-
# vim: ft=sls
# Undo common, last part first.

include:
  - common.service.clean
  - common.swap.clean
  - common.kernel.clean
  - common.config.clean
  - common.package.clean
