"""The demo traffic source: a fake OpenShift tool server instrumented by the producer."""
