# -*- coding: utf-8 -*-
# vim: ft=sls
# The portal's user, directories and venv (requirements.txt from src_dir).
# The kubeconfig is not written here: the cluster wizard fetches the one the master
# published (Salt mine) and keeps it encrypted in the portal's database, the one
# source of truth; HUMMER_KUBECONFIG is left to an operator's explicit override.
{%- set sls_package = 'portal.package' %}
{%- from "portal/map.jinja" import portal with context %}
{%- from "lib/owner.jinja" import owned_by with context %}
{%- set src_ok = salt['file.file_exists'](portal.src_dir ~ '/requirements.txt') %}

include:
  - {{ sls_package }}

portal-app-user-user-present:
  user.present:
    - name: {{ portal.user }}
    - system: True
    - home: {{ portal.home }}
    - createhome: False
    - shell: /usr/sbin/nologin

portal-app-dirs-file-directory:
  file.directory:
    - names:
      - {{ portal.home }}:
        - mode: '0755'
      - {{ portal.instance_dir }}:
        - mode: '0750'
{{ owned_by(portal.user, portal.group) }}
    - makedirs: True
    - require:
      - user: portal-app-user-user-present

{%- if src_ok or opts.get('test') %}

portal-app-venv-cmd-run:
  cmd.run:
    - name: python3 -m venv {{ portal.venv }}
    - creates: {{ portal.venv }}/bin/python
    - require:
      - sls: {{ sls_package }}
      - file: portal-app-dirs-file-directory

portal-app-requirements-cmd-run:
  cmd.run:
    - name: >-
        {{ portal.venv }}/bin/pip install --quiet -r {{ portal.src_dir }}/requirements.txt
        -c {{ portal.src_dir }}/constraints.txt
        && cat {{ portal.src_dir }}/requirements.txt {{ portal.src_dir }}/constraints.txt
        > {{ portal.venv }}/.hummer-requirements.txt
    - unless: >-
        cat {{ portal.src_dir }}/requirements.txt {{ portal.src_dir }}/constraints.txt
        | cmp -s - {{ portal.venv }}/.hummer-requirements.txt
    - require:
      - cmd: portal-app-venv-cmd-run
{%- if not opts.get('test') %}

portal-app-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Creating the venv or installing the portal's requirements failed; pip's
        output is above. The portal host needs its Python package index (or a
        mirror set in pip.conf) and python3-venv.
    - onfail:
      - cmd: portal-app-venv-cmd-run
      - cmd: portal-app-requirements-cmd-run
{%- endif %}
{%- else %}

portal-app-src-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        {{ portal.src_dir }}/requirements.txt is missing: copy the Hummer
        repository (or a release) to {{ portal.src_dir }} on {{ grains['id'] }},
        or set hummer:portal:src_dir.
{%- endif %}


# Earlier versions wrote the kubeconfig here in plain text and pointed HUMMER_KUBECONFIG at it.
portal-app-kubeconfig-file-absent:
  file.absent:
    - name: {{ portal.kubeconfig }}
