# -*- coding: utf-8 -*-
# vim: ft=sls
# Pre-pull the sandbox (pause) image from the private registry into
# containerd's Kubernetes namespace, so an air-gapped node never reaches out.
{%- set sls_service = 'docker.service' %}
{%- from "docker/map.jinja" import docker with context %}

include:
  - {{ sls_service }}

{%- if docker.prepull %}

docker-images-pause-cmd-run:
  cmd.run:
    - name: >-
        ctr -n k8s.io images pull --hosts-dir {{ docker.containerd_certs_dir }}
        {%- if docker.registry_insecure %} --plain-http{% endif %}
        {{ docker.pause_image }}
    - unless: ctr -n k8s.io images ls -q | grep -qxF '{{ docker.pause_image }}'
    - require:
      - sls: {{ sls_service }}
{%- if not opts.get('test') %}

docker-images-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Pulling {{ docker.pause_image }} from the private registry failed.
        Push it there first (`docker pull`/`docker tag`/`docker push`, or
        `ctr images import`), and check that {{ docker.registry }} answers
        from this node (`curl {{ docker.registry_scheme }}://{{ docker.registry }}/v2/_catalog`).
    - onfail:
      - cmd: docker-images-pause-cmd-run
{%- endif %}
{%- else %}

docker-images-test-show_notification:
  test.show_notification:
    - text: The pause image is not pre-pulled (hummer:docker:prepull is false).
{%- endif %}
