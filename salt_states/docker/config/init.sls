# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_package = 'docker.package' %}
{%- from "docker/map.jinja" import docker with context %}
{%- set daemon = {
      'exec-opts': ['native.cgroupdriver=' ~ docker.cgroup_driver],
      'log-driver': 'json-file',
      'log-opts': {'max-size': docker.log_max_size},
      'storage-driver': 'overlay2',
    } %}
{%- if docker.registry_insecure %}
{%-   do daemon.update({'insecure-registries': [docker.registry]}) %}
{%- endif %}
{%- if docker.mirror.url %}
{%-   do daemon.update({'registry-mirrors': [docker.mirror.url]}) %}
{%- endif %}

include:
  - {{ sls_package }}

docker-config-daemon-json-file-serialize:
  file.serialize:
    - name: {{ docker.daemon_json }}
    - dataset: {{ daemon | json }}
    - serializer: json
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

docker-config-containerd-file-managed:
  file.managed:
    - name: {{ docker.containerd_config }}
    - source: salt://docker/files/containerd-config.toml.jinja
    - template: jinja
    - context:
        docker: {{ docker | json }}
    - mode: '0644'
    - makedirs: True
    - require:
      - sls: {{ sls_package }}

docker-config-containerd-registry-file-managed:
  file.managed:
    - name: {{ docker.containerd_certs_dir }}/{{ docker.registry }}/hosts.toml
    - source: salt://docker/files/registry-hosts.toml.jinja
    - template: jinja
    - context:
        docker: {{ docker | json }}
{%- if docker.registry_auth.basic %}
    - mode: '0600'
    - show_changes: False
{%- else %}
    - mode: '0644'
{%- endif %}
    - makedirs: True

{%- if docker.registry_auth.basic %}
{#- root's other logins stay: the file is merged here, at render time, not by file.serialize's
    merge_if_exists (whose diff of the two mappings shows the password whatever show_changes says) #}
{%-   set client = {} %}
{%-   if salt['file.file_exists'](docker.client_config) %}
{%-     set raw = salt['file.read'](docker.client_config) | trim %}
{%-     if raw.startswith('{') %}
{%-       do client.update(raw | load_json) %}
{%-     endif %}
{%-   endif %}
{%-   do client.update({'auths': client.get('auths') or {}}) %}
{%-   do client.auths.update({docker.registry: {
        'username': docker.registry_auth.username,
        'password': docker.registry_auth.password,
        'auth': docker.registry_auth.basic,
      }}) %}

docker-config-client-file-directory:
  file.directory:
    - name: {{ salt['file.dirname'](docker.client_config) }}
    - mode: '0700'
    - makedirs: True

docker-config-client-file-serialize:
  file.serialize:
    - name: {{ docker.client_config }}
    - dataset: {{ client | json }}
    - serializer: json
    - mode: '0600'
    - show_changes: False
    - require:
      - file: docker-config-client-file-directory
{%- endif %}

{%- if docker.mirror.url and docker.mirror.upstream %}

docker-config-containerd-mirror-file-managed:
  file.managed:
    - name: {{ docker.containerd_certs_dir }}/{{ docker.mirror.upstream }}/hosts.toml
    - source: salt://docker/files/mirror-hosts.toml.jinja
    - template: jinja
    - context:
        docker: {{ docker | json }}
    - mode: '0644'
    - makedirs: True
{%- endif %}

{%- if not docker.registry_insecure and docker.registry_ca %}

docker-config-registry-ca-file-managed:
  file.managed:
    - names:
      - {{ docker.docker_certs_dir }}/{{ docker.registry }}/ca.crt
      - {{ docker.containerd_certs_dir }}/{{ docker.registry }}/ca.crt
    - contents: {{ docker.registry_ca | json }}
    - mode: '0644'
    - makedirs: True
{%- endif %}
