"""Stage 6: the emitters. Each formats part of the plan (:mod:`generator.plan`) as bytes: the cloud-init
user-data (:mod:`cloudinit`), the first-boot script and node files (:mod:`node`), the Packer project
(:mod:`packer`), the OpenStack launch kit (:mod:`openstack`), the index (:mod:`index`); :mod:`render`
assembles the output tree. Emitters decide nothing the plan already answers."""
