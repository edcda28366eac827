"""Load nova's compute driver from a nova.conf the way nova-compute does.

Usage: verify_driver.py NOVA_CONF

Parses NOVA_CONF with nova's own options, builds the driver with nova's
``load_compute_driver`` and prints, as JSON, what nova loaded and from where.
Exits non-zero, with nova's own error, when the driver does not load. The
DevStack plugin runs it in ``stack extra``; nothing here talks to libvirtd.
"""

import json
import sys


def main(argv):
    if len(argv) != 2:
        sys.exit('usage: verify_driver.py NOVA_CONF')
    import nova.conf
    from nova.virt import driver
    from nova.virt import virtapi

    conf = nova.conf.CONF
    conf(['--config-file', argv[1]], project='nova', default_config_files=[])
    compute = driver.load_compute_driver(virtapi.VirtAPI())
    cls = type(compute)
    shim = sys.modules['nova.virt.' + conf.compute_driver.rpartition('.')[0]]
    group = conf.lxc_contrail
    print(json.dumps({
        'compute_driver': conf.compute_driver,
        'class': '%s.%s' % (cls.__module__, cls.__qualname__),
        'is_compute_driver': isinstance(compute, driver.ComputeDriver),
        'module_file': shim.__file__,
        'virt_type': conf.libvirt.virt_type,
        'vif_driver': conf.libvirt.vif_driver,
        'vif_driver_class': '%s.%s' % (type(compute.vif_driver).__module__,
                                       type(compute.vif_driver).__qualname__),
        'lxc_contrail': {name: str(group[name]) for name in sorted(group)},
    }, sort_keys=True))


if __name__ == '__main__':
    main(sys.argv)
