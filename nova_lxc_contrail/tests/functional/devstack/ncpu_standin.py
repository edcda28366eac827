"""nova-compute's start, as far as the DevStack plugin can see it.

Usage: ncpu_standin.py NOVA_CPU_CONF RESULT_JSON

Parses the file nova-compute gets with nova's own options and loads the
compute driver with nova's own ``load_compute_driver``, logging the way the
service logs to its journal (stdout), then writes what it loaded to
RESULT_JSON. Exits 1, as nova-compute does, when the driver does not load.
"""

import json
import logging
import sys


def main():
    conf_file, result = sys.argv[1:]
    logging.basicConfig(level=logging.INFO, stream=sys.stdout,
                        format='%(levelname)s %(name)s %(message)s')
    import nova.conf
    from nova.virt import driver
    from nova.virt import virtapi

    conf = nova.conf.CONF
    conf(['--config-file', conf_file], project='nova',
         default_config_files=[])
    compute = driver.load_compute_driver(virtapi.VirtAPI())
    module = sys.modules['nova.virt.' + conf.compute_driver.rpartition('.')[0]]
    with open(result, 'w') as f:
        json.dump({
            'class': '%s.%s' % (type(compute).__module__,
                                type(compute).__qualname__),
            'is_compute_driver': isinstance(compute, driver.ComputeDriver),
            'module_file': module.__file__,
            'vif_driver': '%s.%s' % (type(compute.vif_driver).__module__,
                                     type(compute.vif_driver).__qualname__),
            'virt_type': conf.libvirt.virt_type,
            'lxc_contrail': {name: str(conf.lxc_contrail[name])
                             for name in conf.lxc_contrail},
        }, f, sort_keys=True)


if __name__ == '__main__':
    main()
