# -*- coding: utf-8 -*-
# vim: ft=sls
# Test-only (tests/salt/test_real_apply.py): the failpoint of lib/failpoint.jinja
# ahead of common.config, applied for real with its paths redirected into a
# temporary directory. With pillar hummer_fail_state {component: common} the
# failpoint fails first and failhard keeps every file of common.config unwritten.
{%- from "lib/failpoint.jinja" import failpoint with context %}

include:
  - common.config
{{ failpoint('common') }}
