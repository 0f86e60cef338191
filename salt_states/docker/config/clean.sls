# -*- coding: utf-8 -*-
# vim: ft=sls
{%- set sls_service_clean = 'docker.service.clean' %}
{%- from "docker/map.jinja" import docker with context %}

include:
  - {{ sls_service_clean }}

docker-config-clean-file-absent:
  file.absent:
    - names:
      - {{ docker.daemon_json }}
      - {{ docker.containerd_config }}
      - {{ docker.containerd_certs_dir }}/{{ docker.registry }}
{%- if docker.mirror.upstream %}
      - {{ docker.containerd_certs_dir }}/{{ docker.mirror.upstream }}
{%- endif %}
      - {{ docker.docker_certs_dir }}/{{ docker.registry }}
    - require:
      - sls: {{ sls_service_clean }}
