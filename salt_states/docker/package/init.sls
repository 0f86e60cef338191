# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "docker/map.jinja" import docker with context %}

{%- if docker.pkg.manage %}

docker-package-pkg-installed:
  pkg.installed:
    - pkgs: {{ docker.pkg.names | json }}
    - refresh: True
    - cache_valid_time: 3600
{%- if not opts.get('test') %}

docker-package-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Installing {{ docker.pkg.names | join(', ') }} failed. They come from
        the distribution's repositories; a docker-ce or containerd.io package
        from another repository conflicts with them: remove it or set
        hummer:docker:pkg:names to the packages in use.
    - onfail:
      - pkg: docker-package-pkg-installed
{%- endif %}
{%- else %}

docker-package-test-show_notification:
  test.show_notification:
    - text: Docker and containerd packages are not managed here (hummer:docker:pkg:manage is false).
{%- endif %}
