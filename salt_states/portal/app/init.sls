# -*- coding: utf-8 -*-
# vim: ft=sls
# The portal's user, directories and venv (requirements.txt from src_dir),
# and the kubeconfig the master published for it.
{%- set sls_package = 'portal.package' %}
{%- from "portal/map.jinja" import portal with context %}
{%- from "lib/owner.jinja" import owned_by with context %}
{%- set src_ok = salt['file.file_exists'](portal.src_dir ~ '/requirements.txt') %}
{%- set published = salt['mine.get'](portal.master, 'hummer_portal_kubeconfig') if portal.master else {} %}
{%- set kubeconfig = (published.get(portal.master) or '') %}

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

{%- if kubeconfig %}

portal-app-kubeconfig-file-managed:
  file.managed:
    - name: {{ portal.kubeconfig }}
    - contents: {{ kubeconfig | json }}
{{ owned_by(portal.user, portal.group) }}
    - mode: '0600'
    - show_changes: False
    - require:
      - file: portal-app-dirs-file-directory
{%- else %}

portal-app-kubeconfig-test-show_notification:
  test.show_notification:
    - text: >-
        No kubeconfig from master {{ portal.master or '(none)' }} in the Salt
        mine yet (kubernetes.master.portal_access publishes it); the portal can
        also fetch it: `salt {{ grains['id'] }} mine.get {{ portal.master }} hummer_portal_kubeconfig`.
{%- endif %}
