# -*- coding: utf-8 -*-
# vim: ft=sls
# Time sync stays on: every host wants it, cluster member or not.

common-service-clean-test-show_notification:
  test.show_notification:
    - text: Time synchronisation is left running.
