# Sphinx configuration of the nova-lxc-contrail documentation.
# Built by ``tox -e docs`` and the docs suite of tools/run-tests.sh with
# warnings as errors; nothing here needs the network.

import os
import sys
import warnings

# The checkout's own code is what gets documented.
sys.path.insert(0, os.path.abspath('../..'))
sys.path.insert(0, os.path.abspath('_exts'))

# The options import oslo.privsep, which imports eventlet: its import-time
# deprecation warning is not the documentation's business.
warnings.filterwarnings('ignore', message=r'\nEventlet is deprecated')

extensions = [
    'openstackdocstheme',
    'oslo_config.sphinxext',
    'oslo_config.sphinxconfiggen',
    'sphinx.ext.graphviz',
    'sphinx_feature_classification.support_matrix',
    'cli_reference',
]

# oslo_config.sphinxconfiggen: the sample config, generated at build time
# from the same generator file as ``tox -e genconfig``.
config_generator_config_file = (
    '../../etc/nova-lxc-contrail/nova-lxc-contrail-config-generator.conf')
sample_config_basename = '_static/nova-lxc-contrail'

# openstackdocstheme
openstackdocs_repo_name = 'openstack/nova-lxc-contrail'
openstackdocs_bug_project = 'nova-lxc-contrail'
openstackdocs_bug_tag = 'docs'
openstackdocs_auto_name = False
openstackdocs_use_storyboard = False

project = 'nova-lxc-contrail'
copyright = '2026, nova-lxc-contrail developers'
master_doc = 'index'
exclude_patterns = ['_build']
pygments_style = 'native'
html_theme = 'openstackdocs'
html_static_path = ['_static']

# Rendered by graphviz's ``dot`` at build time (Debian package graphviz).
graphviz_output_format = 'svg'
