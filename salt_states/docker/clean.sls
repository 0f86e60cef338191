# -*- coding: utf-8 -*-
# vim: ft=sls
# Stop Docker and containerd, remove their Hummer configuration and packages.
# Images and containers under /var/lib are left for the operator to remove.

include:
  - docker.service.clean
  - docker.config.clean
  - docker.package.clean
