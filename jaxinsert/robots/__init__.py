"""Real-robot adapters (Sawyer, KUKA iiwa), a safety layer, and a simulated robot server.

  protocol.py    the Robot protocol: RobotState, commands, units and frames
  sawyer.py      intera topics over ROS 1 (joint states, endpoint state, joint/impedance commands)
  iiwa.py        FRI-style fixed-rate UDP exchange, and iiwa_stack's ROS 1 topics
  topic_robot.py the topic adapter both share; transport.py the loopback UDP topic transport;
                 messages.py the intera / iiwa_msgs definitions for rosbags' serialisers
  safety.py      SafeRobot: box, step/velocity/force limits, watchdog, NaN refusal, e-stop
  sim_robot.py, sim_server.py, faults.py   the insertion simulator as a robot on loopback
  runner.py      the 10 Hz episode loop; bag_log.py episodes as sawyer-log / iiwa-log bags
  connect.py     adapters and simulated servers by name
"""
