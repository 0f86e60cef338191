{#- The cluster as the portal (or an operator) describes it.

    Reads pillar/generated/cluster.yaml, which the portal writes from its
    database (portal.adapters.salt.write_cluster_pillar); an operator may write
    or edit it by hand (see generated/cluster.yaml.example). A missing file
    gives an empty cluster: every state still renders, the orchestration has
    no node to target.

    Adds hummer:roles, this minion's roles, so the CLI can target by role:
      salt -C 'I@hummer:roles:master' state.apply kubernetes.master
#}
{%- set raw %}{% include 'generated/cluster.yaml' ignore missing %}{% endset %}
{%- set generated = (raw | load_yaml) or {} %}
{%- set hummer = generated.setdefault('hummer', {}) %}
{%- set me = (hummer.get('nodes') or {}).get(grains['id']) or {} %}
{%- do hummer.update({'roles': me.get('roles', [])}) %}
{{ generated | yaml(False) }}
