from setuptools import setup

package_name = "fassst_ros"

setup(
    name=package_name,
    version="0.1.0",
    packages=[package_name],
    data_files=[
        ("share/ament_index/resource_index/packages", ["resource/" + package_name]),
        ("share/" + package_name, ["package.xml", "README.md"]),
        ("share/" + package_name + "/launch", ["launch/fassst_segmenter.launch.py"]),
        ("share/" + package_name + "/config", ["config/fassst_segmenter.yaml"]),
    ],
    install_requires=["setuptools"],
    zip_safe=True,
    maintainer="The fassst_rt authors",
    maintainer_email="fassst-rt@users.noreply.github.com",
    description="fassst_rt instance segmentation as a ROS 2 node",
    license="Apache-2.0",
    entry_points={"console_scripts": ["segment_node = fassst_ros.segment_node:main"]},
)
