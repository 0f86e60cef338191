# -*- coding: utf-8 -*-
# vim: ft=sls
# The portal's environment file, its systemd unit and its nginx site.
{%- set sls_package = 'portal.package' %}
{%- from "portal/map.jinja" import portal with context %}
{%- from "lib/owner.jinja" import owned_by with context %}

include:
  - {{ sls_package }}

portal-config-env-file-managed:
  file.managed:
    - name: {{ portal.env_file }}
    - source: salt://portal/files/hummer.env.jinja
    - template: jinja
    - context:
        portal: {{ portal | json }}
{{ owned_by('root', portal.group) }}
    - mode: '0640'
    - makedirs: True
    - show_changes: False
    - require:
      - sls: {{ sls_package }}

portal-config-unit-file-managed:
  file.managed:
    - name: {{ portal.unit_file }}
    - source: salt://portal/files/hummer.service.jinja
    - template: jinja
    - context:
        portal: {{ portal | json }}
    - mode: '0644'
    - makedirs: True

portal-config-nginx-site-file-managed:
  file.managed:
    - name: {{ portal.nginx.site }}
    - source: salt://portal/files/nginx-site.conf.jinja
    - template: jinja
    - context:
        portal: {{ portal | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

portal-config-nginx-enabled-file-symlink:
  file.symlink:
    - name: {{ portal.nginx.enabled_link }}
    - target: {{ portal.nginx.site }}
    - makedirs: True
    - require:
      - file: portal-config-nginx-site-file-managed

portal-config-nginx-default-file-absent:
  file.absent:
    - name: {{ portal.nginx.default_site }}
    - require:
      - sls: {{ sls_package }}
