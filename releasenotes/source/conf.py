# Sphinx configuration of the nova-lxc-contrail release notes (reno).
# Built by ``tox -e releasenotes`` with warnings as errors.

extensions = [
    'openstackdocstheme',
    'reno.sphinxext',
]

openstackdocs_repo_name = 'openstack/nova-lxc-contrail'
openstackdocs_bug_project = 'nova-lxc-contrail'
openstackdocs_bug_tag = 'releasenotes'
openstackdocs_auto_name = False
openstackdocs_use_storyboard = False

project = 'nova-lxc-contrail Release Notes'
copyright = '2026, nova-lxc-contrail developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
html_theme = 'openstackdocs'
# reno: notes on this branch, earliest first version unknown until tagged.
locale_dirs = ['locale/']
