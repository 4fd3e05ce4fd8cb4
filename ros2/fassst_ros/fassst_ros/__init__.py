"""fassst_ros: fassst_rt instance segmentation as a ROS 2 node. Importing this
package does not import rclpy (only ``segment_node.main`` does)."""
