# -*- coding: utf-8 -*-
# vim: ft=sls
# Load the modules and apply the sysctls now; common.config made them persistent.
{%- set sls_config = 'common.config' %}
{%- from "common/map.jinja" import common with context %}

include:
  - {{ sls_config }}

{%- if common.kernel.apply %}

common-kernel-modules-cmd-run:
  cmd.run:
    - name: modprobe -a {{ common.kernel.modules | join(' ') }}
    - unless: {% for m in common.kernel.modules %}test -d /sys/module/{{ m }}{% if not loop.last %} && {% endif %}{% endfor %}
    - require:
      - sls: {{ sls_config }}

common-kernel-sysctl-cmd-run:
  cmd.run:
    - name: sysctl -p {{ common.kernel.sysctl_file }}
    - onchanges:
      - file: common-config-sysctl-file-managed
    - require:
      - cmd: common-kernel-modules-cmd-run
{%- if not opts.get('test') %}

common-kernel-sysctl-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Loading {{ common.kernel.modules | join(', ') }} or applying {{ common.kernel.sysctl_file }} failed. br_netfilter must be
        loaded before net.bridge.* exists: check `lsmod | grep br_netfilter`
        and the kernel log; in a container the host must load it.
    - onfail:
      - cmd: common-kernel-modules-cmd-run
      - cmd: common-kernel-sysctl-cmd-run
{%- endif %}
{%- else %}

common-kernel-test-show_notification:
  test.show_notification:
    - text: Kernel modules and sysctls are written but not applied now (hummer:common:kernel:apply is false).
{%- endif %}
