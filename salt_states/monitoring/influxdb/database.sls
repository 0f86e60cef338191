# -*- coding: utf-8 -*-
# vim: ft=sls
# The database Telegraf writes into, its two retention policies and the continuous
# queries that down-sample into the second, through the `influx` CLI on the monitoring
# node (InfluxDB must be running: monitoring.influxdb.service starts it). Each step
# runs only when SHOW ... says it is needed, so a second run changes nothing:
#   - the database `database`, whose default retention policy `retention_policy` keeps
#     every point for `retention` (a changed duration is ALTERed);
#   - the retention policy `rollup.retention_policy`, kept `rollup.retention`;
#   - per measurement of `rollup.measurements`, a continuous query writing the mean per
#     `rollup.interval` of its fields, grouped by every tag, under the same field names,
#     recomputing the last `rollup.resample_for` at each run (late points still count).
#     Its name ends with a hash of its definition: a changed definition is a new query,
#     and the queries of this rollup that are no longer wanted are dropped (every query
#     on the database whose name starts with `<rollup.retention_policy>_`). A measurement
#     whose list of fields is empty is not rolled up.
{%- from "monitoring/map.jinja" import monitoring with context %}
{%- set rollup = monitoring.rollup %}
{%- set influx = 'influx -host ' ~ monitoring.influxdb_local_host ~ ' -port ' ~ monitoring.influxdb.port %}
{%- set db = monitoring.database %}
{%- set raw_rp = monitoring.retention_policy %}
{%- set rollup_rp = rollup.retention_policy %}

{#- Names go into InfluxQL (double-quoted) inside single-quoted shell words: letters,
    digits and underscores only. Durations: a whole number of m, h, d or w, or INF. #}
{%- macro name(value, what) %}
{%-   if not (value is string and value | regex_match('([A-Za-z_][A-Za-z0-9_]*)$')) %}
{{- raise('hummer:monitoring: ' ~ what ~ ' must be letters, digits and underscores, got ' ~ value) }}
{%-   endif %}
{{- value }}
{%- endmacro %}
{#- A duration as SHOW RETENTION POLICIES spells it (Go's time.Duration): 30d is 720h0m0s. #}
{%- macro shown_duration(value, what) %}
{%-   set units = {'m': 60, 'h': 3600, 'd': 86400, 'w': 604800} %}
{%-   set v = value | string | lower %}
{%-   if v == 'inf' %}0s
{%-   elif v[-1:] in units and v[:-1] | regex_match('([0-9]+)$') and v[:-1] | int > 0 %}
{%-     set s = (v[:-1] | int) * units[v[-1:]] %}
{%-     if s >= 3600 %}{{ s // 3600 }}h{{ (s % 3600) // 60 }}m0s{% else %}{{ s // 60 }}m0s{% endif %}
{%-   else %}
{{- raise('hummer:monitoring: ' ~ what ~ ' must be a whole number of m, h, d or w (30d), or INF, got ' ~ value) }}
{%-   endif %}
{%- endmacro %}
{%- set checked = [name(db, 'database'), name(raw_rp, 'retention_policy'),
                   name(rollup_rp, 'rollup:retention_policy'), shown_duration(monitoring.retention, 'retention'),
                   shown_duration(rollup.retention, 'rollup:retention'), shown_duration(rollup.interval, 'rollup:interval'),
                   shown_duration(rollup.resample_for, 'rollup:resample_for')] %}
{%- set show_rps = influx ~ " -format csv -execute 'SHOW RETENTION POLICIES ON \"" ~ db ~ "\"'" %}
{%- set show_cqs = influx ~ " -format csv -execute 'SHOW CONTINUOUS QUERIES'" %}

monitoring-influxdb-database-ready-cmd-run:
  cmd.run:
    - name: >-
        for i in $(seq 1 60); do {{ influx }} -execute 'SHOW DATABASES' >/dev/null 2>&1 && exit 0; sleep 1; done;
        echo "InfluxDB does not answer on {{ monitoring.influxdb_local_url }}" >&2; exit 1
    - unless: {{ influx }} -execute 'SHOW DATABASES' >/dev/null

monitoring-influxdb-database-create-cmd-run:
  cmd.run:
    - name: >-
        {{ influx }} -execute 'CREATE DATABASE "{{ db }}"
        WITH DURATION {{ monitoring.retention }} REPLICATION 1 NAME "{{ raw_rp }}"'
    - unless: {{ influx }} -format csv -execute 'SHOW DATABASES' | grep -qx 'databases,{{ db }}'
    - require:
      - cmd: monitoring-influxdb-database-ready-cmd-run

{%- for state, rp, duration, default in [('raw', raw_rp, monitoring.retention, True),
                                         ('rollup', rollup_rp, rollup.retention, False)] %}
{%-   set spec = 'ON "' ~ db ~ '" DURATION ' ~ duration ~ ' REPLICATION 1' ~ (' DEFAULT' if default else '') %}

monitoring-influxdb-database-{{ state }}-cmd-run:
  cmd.run:
    - name: >-
        {{ influx }} -execute 'CREATE RETENTION POLICY "{{ rp }}" {{ spec }}' ||
        {{ influx }} -execute 'ALTER RETENTION POLICY "{{ rp }}" {{ spec }}'
    - unless: >-
        {{ show_rps }} | grep -qx '{{ rp }},{{ shown_duration(duration, '') }},[^,]*,1,{{ default | lower }}'
    - require:
      - cmd: monitoring-influxdb-database-create-cmd-run
{%- endfor %}

{%- set wanted = [] %}
{%- for measurement, fields in rollup.measurements | dictsort if fields %}
{%-   set selected = [] %}
{%-   for field in fields %}
{%-     do selected.append('mean("' ~ name(field, 'rollup:measurements:' ~ measurement) ~ '") AS "' ~ field ~ '"') %}
{%-   endfor %}
{%-   set body = 'RESAMPLE EVERY ' ~ rollup.interval ~ ' FOR ' ~ rollup.resample_for ~ ' BEGIN SELECT '
               ~ selected | join(', ') ~ ' INTO "' ~ db ~ '"."' ~ rollup_rp ~ '"."' ~ name(measurement, 'measurement')
               ~ '" FROM "' ~ db ~ '"."' ~ raw_rp ~ '"."' ~ measurement ~ '" GROUP BY time(' ~ rollup.interval
               ~ '), * END' %}
{%-   set cq = rollup_rp ~ '_' ~ measurement ~ '_' ~ (body | sha256)[:8] %}
{%-   do wanted.append(cq) %}

monitoring-influxdb-database-cq-{{ measurement }}-cmd-run:
  cmd.run:
    - name: >-
        {{ influx }} -execute 'CREATE CONTINUOUS QUERY "{{ cq }}" ON "{{ db }}" {{ body }}'
    - unless: {{ show_cqs }} | grep -q '^{{ db }},{{ cq }},'
    - require:
      - cmd: monitoring-influxdb-database-rollup-cmd-run
{%- endfor %}
{%- set stale = show_cqs ~ " | awk -F, -v db=" ~ db ~ " -v keep=' " ~ wanted | join(' ') ~ " ' '$1 == db && index($2, \""
                ~ rollup_rp ~ "_\") == 1 && index(keep, \" \" $2 \" \") == 0 { print $2 }'" %}

monitoring-influxdb-database-prune-cmd-run:
  cmd.run:
    - name: >-
        for cq in $({{ stale }}); do
        {{ influx }} -execute "DROP CONTINUOUS QUERY \"$cq\" ON \"{{ db }}\"" || exit 1; done
    - onlyif: >-
        test -n "$({{ stale }})"
    - require:
      - cmd: monitoring-influxdb-database-create-cmd-run
