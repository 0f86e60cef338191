# -*- coding: utf-8 -*-
# vim: ft=sls
# The kubelet refuses to run with swap on: turn it off now and for good.
{%- from "common/map.jinja" import common with context %}

common-swap-swapoff-cmd-run:
  cmd.run:
    - name: swapoff -a
    - onlyif: test -n "$(swapon --show --noheadings)"

common-swap-fstab-file-replace:
  file.replace:
    - name: {{ common.swap.fstab }}
    - pattern: '^([^#\s]\S*\s+\S+\s+swap\s.*)$'
    - repl: '# disabled by Hummer (kubelet needs swap off): \1'
    - ignore_if_missing: True
    - backup: False
{%- if not opts.get('test') %}

common-swap-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        `swapoff -a` failed, so the kubelet would not start. Check
        `swapon --show` for a swap device that is busy (not enough free memory
        to move its pages back) and free memory first.
    - onfail:
      - cmd: common-swap-swapoff-cmd-run
{%- endif %}
