# -*- coding: utf-8 -*-
# vim: ft=sls
# The base packages are shared with the rest of the system: they are never
# removed. This file exists so `common.clean` mirrors `common` part by part.

common-package-clean-test-show_notification:
  test.show_notification:
    - text: Base packages are left installed (other software may need them).
