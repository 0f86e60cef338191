# -*- coding: utf-8 -*-
# vim: ft=sls
# MariaDB running, with the portal's database and user.
{%- set sls_package = 'portal.package' %}
{%- from "portal/map.jinja" import portal with context %}
{%- set db = portal.database %}

include:
  - {{ sls_package }}

portal-database-service-running:
  service.running:
    - name: {{ db.service }}
    - enable: True
    - require:
      - sls: {{ sls_package }}

{%- if not db.password %}

portal-database-test-configurable_test_state:
  test.configurable_test_state:
    - name: portal database password
    - changes: False
    - result: False
    - comment: >-
        hummer:portal:database:password is empty: set it in the cluster
        pillar before a real run. In test mode this is only a warning.
    - warnings: hummer:portal:database:password is empty
{%- else %}

portal-database-sql-file-managed:
  file.managed:
    - name: {{ db.sql_file }}
    - source: salt://portal/files/database.sql.jinja
    - template: jinja
    - context:
        portal: {{ portal | json }}
    - mode: '0600'
    - makedirs: True
    - show_changes: False

portal-database-apply-cmd-run:
  cmd.run:
    - name: mysql --protocol=socket -u root < {{ db.sql_file }}
    - onchanges:
      - file: portal-database-sql-file-managed
    - require:
      - service: portal-database-service-running
{%- if not opts.get('test') %}

portal-database-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Creating database {{ db.name }} or user {{ db.user }} failed. root must
        reach MariaDB through its socket without a password (Debian's default
        unix_socket authentication); see `journalctl -u {{ db.service }}`.
    - onfail:
      - service: portal-database-service-running
      - cmd: portal-database-apply-cmd-run
{%- endif %}
{%- endif %}
