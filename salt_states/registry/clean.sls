# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop and remove the registry; the image storage directory is kept.

include:
  - registry.service.clean
  - registry.config.clean
  - registry.package.clean
