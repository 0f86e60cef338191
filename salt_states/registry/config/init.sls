# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_package = 'registry.package' %}
{%- from "registry/map.jinja" import registry with context %}
{%- from "lib/owner.jinja" import owned_by with context %}

include:
  - {{ sls_package }}

registry-config-storage-file-directory:
  file.directory:
    - name: {{ registry.storage_dir }}
{{ owned_by(registry.user, registry.group) }}
    - mode: '0750'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

registry-config-file-file-managed:
  file.managed:
    - name: {{ registry.config_file }}
    - source: salt://registry/files/config.yml.jinja
    - template: jinja
    - context:
        registry: {{ registry | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

{%- if registry.htpasswd.enabled %}

registry-config-htpasswd-file-managed:
  file.managed:
    - name: {{ registry.htpasswd.file }}
    - source: salt://registry/files/htpasswd.jinja
    - template: jinja
    - context:
        registry: {{ registry | json }}
{{ owned_by('root', registry.group) }}
    - mode: '0640'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}
{%- endif %}

{%- if registry.tls.enabled and registry.tls.cert and registry.tls.key %}

registry-config-tls-cert-file-managed:
  file.managed:
    - name: {{ registry.tls.cert_file }}
    - contents: {{ registry.tls.cert | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

registry-config-tls-key-file-managed:
  file.managed:
    - name: {{ registry.tls.key_file }}
    - contents: {{ registry.tls.key | json }}
{{ owned_by('root', registry.group) }}
    - mode: '0640'
    - makedirs: True
    - show_changes: False
    - require:
      - sls: {{ sls_package }}
{%- endif %}
