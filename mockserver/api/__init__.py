"""LXD's REST API as a sans-IO core: parse, validate, call the state, render the envelope."""
from mockserver.api.request import ApiRequest, AwaitCommit, ForwardTo, Later, StreamEvents, WaitForOperation
from mockserver.api.server import ApiServer

__all__ = ["ApiRequest", "ApiServer", "AwaitCommit", "ForwardTo", "Later", "StreamEvents", "WaitForOperation"]
