"""The integration's REST API: views and their input/output serializers."""
