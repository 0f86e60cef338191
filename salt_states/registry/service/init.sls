# -*- coding: utf-8 -*-
# vim: ft=sls
# Run the registry: the package's systemd unit, or (service_manager daemon, for hosts
# without systemd) `<binary> serve <config_file>` with a pidfile, started when it is
# not running and restarted when the configuration changed.
{%- set sls_config = 'registry.config' %}
{%- from "registry/map.jinja" import registry with context %}

include:
  - {{ sls_config }}
{%- if registry.service_manager == 'daemon' %}

registry-service-stop-cmd-run:
  cmd.run:
    - name: >-
        kill "$(cat {{ registry.daemon.pidfile }})";
        for i in $(seq 1 30); do {{ registry.alive }} || exit 0; sleep 1; done;
        echo "docker-registry did not stop in 30 s" >&2; exit 1
    - onlyif: {{ registry.alive }}
    - onchanges:
      - sls: {{ sls_config }}

registry-service-start-cmd-run:
  cmd.run:
    - name: {{ registry.daemon.start }}
    - unless: {{ registry.alive }}
    - runas: {{ registry.user }}
    - require:
      - sls: {{ sls_config }}
      - cmd: registry-service-stop-cmd-run
{%- set started = {'cmd': 'registry-service-start-cmd-run'} %}
{%- else %}

registry-service-running-service-running:
  service.running:
    - name: {{ registry.service }}
    - enable: True
    - watch:
      - sls: {{ sls_config }}
{%- set started = {'service': 'registry-service-running-service-running'} %}
{%- endif %}

registry-service-listening-cmd-run:
  cmd.run:
    - name: {{ registry.answers }}
    - onchanges:
      - {{ started | json }}
    - require:
      - {{ started | json }}
{%- if not opts.get('test') %}

registry-service-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        The registry does not answer on port {{ registry.port }}. See
        {% if registry.service_manager == 'daemon' %}{{ registry.daemon.log_file }}{% else %}`journalctl
        -u {{ registry.service }}`{% endif %}: a port already in use, a bad
        TLS certificate or key, or a storage directory it cannot write
        ({{ registry.storage_dir }}).
    - onfail:
      - {{ started | json }}
      - cmd: registry-service-listening-cmd-run
{%- endif %}
