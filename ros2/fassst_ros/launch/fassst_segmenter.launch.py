"""Launches the fassst_segmenter node.

    ros2 launch fassst_ros fassst_segmenter.launch.py model:=/models/fassst_default.onnx image_topic:=/camera/image_raw
    ros2 launch fassst_ros fassst_segmenter.launch.py model:=/models/fassst_default.onnx source:=0
    ros2 launch fassst_ros fassst_segmenter.launch.py params_file:=/path/to/my_params.yaml

The parameters come from params_file (default: the package's
config/fassst_segmenter.yaml); a launch argument below that is given
(not left empty) overrides its value there.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

# launch argument -> the parameter's type (the node types each parameter by its default)
OVERRIDES = [
    ("model", str, "NAME.onnx or NAME.plan"),
    ("source", str, "a camera index, /dev/videoN, URL, gst:..., video file or folder (instead of image_topic)"),
    ("image_topic", str, "the sensor_msgs/Image topic to segment"),
    ("mode", str, "stream mode for source: latency or throughput"),
    ("device", str, "auto, cpu or cuda"),
    ("score_threshold", float, "the least class probability of an instance"),
]


def make_node(context):
    overrides = {}
    for name, value_type, _ in OVERRIDES:
        text = LaunchConfiguration(name).perform(context)
        if text != "":
            overrides[name] = value_type(text)
    params_file = LaunchConfiguration("params_file").perform(context)
    return [Node(package="fassst_ros", executable="segment_node", name="fassst_segmenter", output="screen",
                 parameters=[params_file, overrides])]


def generate_launch_description():
    default_params = os.path.join(get_package_share_directory("fassst_ros"), "config", "fassst_segmenter.yaml")
    arguments = [DeclareLaunchArgument("params_file", default_value=default_params,
                                       description="YAML parameters of the node")]
    for name, _, description in OVERRIDES:
        arguments.append(DeclareLaunchArgument(name, default_value="",
                                               description=description + " (empty: params_file's value)"))
    return LaunchDescription(arguments + [OpaqueFunction(function=make_node)])
