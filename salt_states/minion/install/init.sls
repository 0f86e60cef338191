# -*- coding: utf-8 -*-
# vim: ft=sls
# salt-minion itself: a venv with salt==<version> (install:method pip), or a
# check that the one already installed is where hummer:minion:bin says.
{%- from "minion/map.jinja" import minion with context %}

{%- if minion.install.method == 'pip' %}
{%-   if minion.install.pkg.manage %}

minion-install-pkg-installed:
  pkg.installed:
    - pkgs: {{ minion.install.pkg.names | json }}
    - refresh: True
    - cache_valid_time: 3600
{%-   endif %}

minion-install-venv-cmd-run:
  cmd.run:
    - name: {{ minion.install.python }} -m venv {{ minion.install.venv }}
    - creates: {{ minion.install.venv }}/bin/python
{%-   if minion.install.pkg.manage %}
    - require:
      - pkg: minion-install-pkg-installed
{%-   endif %}

minion-install-salt-pip-installed:
  pip.installed:
    - name: salt=={{ minion.version }}
    - bin_env: {{ minion.install.venv }}
{%-   if minion.install.index_url %}
    - index_url: {{ minion.install.index_url }}
{%-   endif %}
    - require:
      - cmd: minion-install-venv-cmd-run
{%-   if not opts.get('test') %}

minion-install-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Installing salt=={{ minion.version }} into {{ minion.install.venv }} failed;
        pip's output is above. The host needs python3-venv and its package index
        {{- ' ' ~ minion.install.index_url if minion.install.index_url else ' (pip.conf)' }};
        set hummer:minion:install:index_url to a mirror it can reach.
    - onfail:
      - cmd: minion-install-venv-cmd-run
      - pip: minion-install-salt-pip-installed
{%-   endif %}
{%- else %}

minion-install-bin-file-exists:
  file.exists:
    - name: {{ minion.bin }}
{%-   if not opts.get('test') %}

minion-install-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        {{ minion.bin }} does not exist, and hummer:minion:install:method is
        none: install salt-minion on this host first, set hummer:minion:bin to
        where it is, or use install:method pip.
    - onfail:
      - file: minion-install-bin-file-exists
{%-   endif %}
{%- endif %}
