# -*- coding: utf-8 -*-
# vim: ft=sls
# The Kubernetes apt repository from hummer:kubernetes:repo (a mirror may
# replace it). The list and key files are written directly, which keeps them
# predictable for the flat ("/") repository layout.
{%- from "kubernetes/map.jinja" import kubernetes with context %}
{%- set repo = kubernetes.repo %}
{%- set keyring = repo.keyring_asc if repo.key_text else repo.keyring %}

{%- if kubernetes.repo_is_placeholder %}
{#- A real run stops here (the package step requires this SLS); a plan warns. #}

kubernetes-repo-test-configurable_test_state:
  test.configurable_test_state:
    - name: Kubernetes apt repository URL is a placeholder
    - changes: False
    - result: False
    - comment: >-
        hummer:kubernetes:repo:url is '{{ repo.url }}', a placeholder. Set it to
        the Kubernetes apt repository for v{{ kubernetes.version.split('.')[:2] | join('.') }}
        or a local mirror of it (and repo:key_text or repo:key_url), then run
        again. In test mode this is only a warning.
    - warnings: hummer:kubernetes:repo:url is a placeholder
{%- endif %}

{%- if not (kubernetes.repo_is_placeholder and not opts.get('test')) %}

{%- if repo.key_text %}

kubernetes-repo-key-file-managed:
  file.managed:
    - name: {{ keyring }}
    - contents: {{ repo.key_text | json }}
    - mode: '0644'
    - makedirs: True
{%- else %}

kubernetes-repo-key-cmd-run:
  cmd.run:
    - name: >-
        mkdir -p {{ keyring.rsplit('/', 1)[0] }} &&
        curl -fsSL {{ repo.key_url }} | gpg --dearmor --batch --yes -o {{ keyring }}
    - creates: {{ keyring }}
{%- endif %}

kubernetes-repo-list-file-managed:
  file.managed:
    - name: {{ repo.list_file }}
    - contents: 'deb [signed-by={{ keyring }}] {{ repo.url }} /'
    - mode: '0644'
    - makedirs: True
    - require:
{%- if repo.key_text %}
      - file: kubernetes-repo-key-file-managed
{%- else %}
      - cmd: kubernetes-repo-key-cmd-run
{%- endif %}
{%- if not opts.get('test') %}

kubernetes-repo-test-fail_without_changes:
  test.fail_without_changes:
    - failhard: True
    - comment: >-
        Could not set up the Kubernetes apt repository: fetching the key from
        {{ repo.key_url }} failed or it is not a valid key. Check
        hummer:kubernetes:repo (url, key_url or key_text) and that this node
        reaches the repository or its mirror.
    - onfail:
{%- endif %}
{%- if repo.key_text %}
      - file: kubernetes-repo-key-file-managed
{%- else %}
      - cmd: kubernetes-repo-key-cmd-run
{%- endif %}
{%- endif %}
