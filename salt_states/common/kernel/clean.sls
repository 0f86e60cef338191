# -*- coding: utf-8 -*-
# vim: ft=sls
# Loaded modules and live sysctls stay until reboot; common.config.clean
# removes the files that would load them again.

common-kernel-clean-test-show_notification:
  test.show_notification:
    - text: Kernel modules and sysctls stay active until the next reboot.
