# -*- coding: utf-8 -*-
# vim: ft=sls
{%- from "docker/map.jinja" import docker with context %}

docker-service-clean-service-dead:
  service.dead:
    - names: {{ docker.services | reverse | list | json }}
    - enable: False
