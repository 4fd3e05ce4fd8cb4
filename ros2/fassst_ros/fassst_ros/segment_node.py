"""The fassst_ros node: instance segmentation of a sensor_msgs/Image topic, or
of a camera / URL / file read by fassst_rt's own stream, published as
vision_msgs/Detection2DArray plus a mono16 label image with the input's
header.

rclpy and the message packages are imported in ``main`` only, so this module
imports (and its ROS-free parts are tested) where ROS 2 is not installed. The
conversion itself is ``fassst_rt.ros_mapping``; this file copies its
dataclasses into the real messages.

Target: vision_msgs 4.x (ROS 2 Humble, Iron, Jazzy). Foxy's (2.x) and
Galactic's (3.x) older field names are filled where the message has them.
"""

import array
import threading

from fassst_rt import ros_mapping

from .settings import PARAMETERS, NodeSettings


def fill_header(target, header: ros_mapping.Header) -> None:
    target.stamp.sec = header.stamp.sec
    target.stamp.nanosec = header.stamp.nanosec
    target.frame_id = header.frame_id


def detection_array_message(detections: ros_mapping.Detection2DArray, types):
    """A vision_msgs/Detection2DArray from the mapping's dataclass. ``types``:
    the message classes (Detection2DArray, Detection2D, ObjectHypothesisWithPose)."""
    array_type, detection_type, hypothesis_type = types
    message = array_type()
    fill_header(message.header, detections.header)
    for d in detections.detections:
        m = detection_type()
        fill_header(m.header, d.header)
        for h in d.results:
            r = hypothesis_type()
            if hasattr(r, "hypothesis"):  # Galactic and later
                r.hypothesis.class_id = h.class_id
                r.hypothesis.score = h.score
            else:  # Foxy: id and score on the hypothesis itself
                r.id = h.class_id
                r.score = h.score
            m.results.append(r)
        center = m.bbox.center
        if hasattr(center, "position"):  # Humble and later: vision_msgs/Pose2D
            center.position.x = d.bbox.center.x
            center.position.y = d.bbox.center.y
        else:  # Foxy, Galactic: geometry_msgs/Pose2D
            center.x = d.bbox.center.x
            center.y = d.bbox.center.y
        center.theta = d.bbox.center.theta
        m.bbox.size_x = d.bbox.size_x
        m.bbox.size_y = d.bbox.size_y
        if hasattr(m, "id"):  # Galactic and later
            m.id = d.id
        else:  # Foxy
            m.tracking_id = d.id
            m.is_tracking = bool(d.id)
        message.detections.append(m)
    return message


def image_message(image: ros_mapping.Image, image_type):
    message = image_type()
    fill_header(message.header, image.header)
    message.height = image.height
    message.width = image.width
    message.encoding = image.encoding
    message.is_bigendian = image.is_bigendian
    message.step = image.step
    # array('B', bytes) copies in one go; a bytes value would be checked byte by byte by the setter
    message.data = array.array("B", image.data)
    return message


def make_node_class():
    """The rclpy Node subclass (defined here so that importing this module
    needs no ROS)."""
    from rclpy.node import Node
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image
    from vision_msgs.msg import Detection2D, Detection2DArray, ObjectHypothesisWithPose

    from fassst_rt import Segmenter

    class SegmentNode(Node):
        def __init__(self) -> None:
            super().__init__("fassst_segmenter")
            for name, default in PARAMETERS.items():
                self.declare_parameter(name, default)
            self.settings = NodeSettings({name: self.get_parameter(name).value for name in PARAMETERS})
            values = self.settings.values
            self.segmenter = Segmenter(**self.settings.segmenter_arguments())
            self.tracker = None
            if values["track"]:
                try:
                    from fassst_rt.tracking import Tracker
                except ImportError as e:
                    raise RuntimeError("parameter track is true but this fassst_rt has no tracker "
                                       "(fassst_rt.tracking): {}".format(e))
                self.tracker = Tracker()
            self.message_types = (Detection2DArray, Detection2D, ObjectHypothesisWithPose)
            self.detections_publisher = self.create_publisher(Detection2DArray, values["detections_topic"], 10)
            self.label_publisher = (self.create_publisher(Image, values["label_image_topic"], 10)
                                    if values["publish_label_image"] else None)
            self.stopping = threading.Event()
            self.stream_thread = None
            stream_arguments = self.settings.stream_arguments()
            if stream_arguments is None:
                # depth 1: while a frame is segmented only the newest one waits, not a backlog of stale ones
                newest_only = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                         reliability=ReliabilityPolicy.BEST_EFFORT)
                self.create_subscription(Image, values["image_topic"], self.on_image, newest_only)
                self.get_logger().info("segmenting {} with {}".format(values["image_topic"], values["model"]))
            else:
                self.stream_thread = threading.Thread(target=self.run_stream, args=(stream_arguments,),
                                                      name="fassst_stream", daemon=True)
                self.stream_thread.start()

        def publish(self, instances, header: ros_mapping.Header) -> None:
            if self.tracker is not None:
                self.tracker.update(instances)
            detections = ros_mapping.to_detection_array(instances, header, self.settings.class_id)
            self.detections_publisher.publish(detection_array_message(detections, self.message_types))
            if self.label_publisher is not None:
                self.label_publisher.publish(image_message(ros_mapping.to_label_image(instances, header), Image))

        def on_image(self, message) -> None:
            try:
                frame = ros_mapping.frame_from_image(message.height, message.width, message.encoding,
                                                     message.is_bigendian, message.step, message.data,
                                                     self.segmenter.channel_order)
                instances = self.segmenter.run(frame)
            except Exception as e:  # a bad message must not end the node
                self.get_logger().error("frame {}.{}: {}".format(message.header.stamp.sec,
                                                                  message.header.stamp.nanosec, e))
                return
            header = ros_mapping.Header(ros_mapping.Time(message.header.stamp.sec, message.header.stamp.nanosec),
                                        message.header.frame_id)
            self.publish(instances, header)

        def run_stream(self, stream_arguments) -> None:
            values = self.settings.values
            try:
                with self.segmenter.stream(**stream_arguments) as stream:
                    self.get_logger().info("segmenting {} ({} mode) with {}".format(
                        stream_arguments["source"], stream_arguments["mode"], values["model"]))
                    for result in stream:
                        if self.stopping.is_set():
                            break
                        if self.settings.stamp == "capture":
                            stamp = ros_mapping.stamp_from_seconds(result.timestamp)
                        else:
                            now = self.get_clock().now().to_msg()
                            stamp = ros_mapping.Time(now.sec, now.nanosec)
                        self.publish(result.instances, ros_mapping.Header(stamp, values["frame_id"]))
                        if result.dropped:
                            self.get_logger().debug("{} frames dropped".format(result.dropped))
                if not self.stopping.is_set():
                    self.get_logger().info("the source ended; stopping")
            except Exception as e:
                self.get_logger().error("stream: {}".format(e))
            if not self.stopping.is_set():
                request_shutdown()  # nothing more will come: end spin() in main

        def shutdown(self) -> None:
            self.stopping.set()
            if self.stream_thread is not None:
                # The stream thread leaves its loop at the next frame and closes the stream itself:
                # the core's Stream is not stopped from one thread while another waits in next().
                self.stream_thread.join(timeout=5.0)
                if self.stream_thread.is_alive():
                    self.get_logger().warning("the source gave no frame for 5 s; leaving its thread behind")
                    return
            self.segmenter.close()

    return SegmentNode


def request_shutdown() -> None:
    import rclpy

    try:
        rclpy.shutdown()
    except Exception:  # already shut down (Ctrl-C at the same moment)
        pass


def main(args=None) -> None:
    import rclpy

    rclpy.init(args=args)
    node = None
    try:
        node = make_node_class()()
        rclpy.spin(node)
    except KeyboardInterrupt:
        pass
    except Exception as e:
        # newer rclpy raises ExternalShutdownException from spin() after request_shutdown()
        if type(e).__name__ != "ExternalShutdownException":
            raise
    finally:
        if node is not None:
            node.shutdown()
            try:
                node.destroy_node()
            except Exception:  # the context may already be shut down
                pass
        if rclpy.ok():
            rclpy.shutdown()


if __name__ == "__main__":
    main()
