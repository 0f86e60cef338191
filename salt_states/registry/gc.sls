# -*- coding: utf-8 -*-
# vim: ft=sls
# On demand: reclaim the space of deleted images.
#   salt -C 'I@hummer:roles:registry' state.apply registry.gc test=True   # dry run
#   salt -C 'I@hummer:roles:registry' state.apply registry.gc             # collect
# A dry run (test=True) runs `garbage-collect --dry-run` while the registry serves
# and reports the blobs and bytes it would delete; nothing is deleted or stopped.
# A real run stops the registry (it must not accept pushes meanwhile, and it serves
# deleted blobs from its cache until restarted), collects, and starts it again
# whatever the outcome. The collection and its measures are salt://_states and
# salt://_modules hummer_registry (synced by state.apply).
{%- from "registry/map.jinja" import registry with context %}
{#- The collection is salt://_modules and _states hummer_registry. A highstate syncs custom
    modules, state.apply of one SLS does not: sync them here, while rendering, so that a
    plan (test=True, where a saltutil state would not run) has them too. #}
{%- do salt['saltutil.sync_modules'](refresh=False) %}
{%- do salt['saltutil.sync_states'](refresh=False) %}
{%- set daemon = registry.service_manager == 'daemon' %}

{%- if daemon %}

registry-gc-stop-cmd-run:
  cmd.run:
    - name: >-
        kill "$(cat {{ registry.daemon.pidfile }})";
        for i in $(seq 1 30); do {{ registry.alive }} || exit 0; sleep 1; done;
        echo "docker-registry did not stop in 30 s" >&2; exit 1
    - onlyif: {{ registry.alive }}
{%- else %}

registry-gc-service-dead:
  service.dead:
    - name: {{ registry.service }}
{%- endif %}

registry-gc-hummer_registry-collected:
  hummer_registry.collected:
    - name: {{ registry.config_file }}
    - delete_untagged: {{ registry.gc.delete_untagged }}
    - binary: {{ registry.binary }}
    - user: {{ registry.user }}
    # Its failure must not stop the run here (a minion's failhard): the registry is
    # started again first, then the failure below stops the run.
    - failhard: False
    - require:
{%- if daemon %}
      - cmd: registry-gc-stop-cmd-run
{%- else %}
      - service: registry-gc-service-dead
{%- endif %}
{%- if daemon %}

registry-gc-start-cmd-run:
  cmd.run:
    - name: {{ registry.daemon.start }}
    - unless: {{ registry.alive }}
    - runas: {{ registry.user }}
    - require:
      - cmd: registry-gc-stop-cmd-run
{%- else %}

registry-gc-service-running:
  service.running:
    - name: {{ registry.service }}
    - require:
      - service: registry-gc-service-dead
{%- endif %}

registry-gc-listening-cmd-run:
  cmd.run:
    - name: {{ registry.answers }}
    - require:
{%- if daemon %}
      - cmd: registry-gc-start-cmd-run
{%- else %}
      - service: registry-gc-service-running
{%- endif %}
{%- if not opts.get('test') %}

registry-gc-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        garbage-collect failed; the registry was started again without
        reclaiming space. Its output above says which blob or manifest it
        could not read; check the ownership of {{ registry.storage_dir }}.
    - onfail:
      - hummer_registry: registry-gc-hummer_registry-collected
    - require:
      - cmd: registry-gc-listening-cmd-run
{%- endif %}
