# -*- coding: utf-8 -*-
# vim: ft=sls
# On demand: reclaim the space of deleted images.
#   salt -C 'I@hummer:roles:registry' state.apply registry.gc
# The registry is stopped while garbage-collect runs (it must not accept
# pushes meanwhile) and started again whatever the outcome.
{%- from "registry/map.jinja" import registry with context %}

registry-gc-service-dead:
  service.dead:
    - name: {{ registry.service }}

registry-gc-cmd-run:
  cmd.run:
    - name: >-
        {{ registry.binary }} garbage-collect
        {%- if registry.gc.delete_untagged %} --delete-untagged{% endif %}
        {{ registry.config_file }}
    - runas: {{ registry.user }}
    - require:
      - service: registry-gc-service-dead
{%- if not opts.get('test') %}

registry-gc-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        garbage-collect failed; the registry was started again without
        reclaiming space. Its output above says which blob or manifest it
        could not read; check the ownership of {{ registry.storage_dir }}.
    - onfail:
      - cmd: registry-gc-cmd-run
{%- endif %}

registry-gc-service-running:
  service.running:
    - name: {{ registry.service }}
    - require:
      - service: registry-gc-service-dead
