"""Name tables of the Luau checker: known globals, deprecated APIs, yielding calls."""

from __future__ import annotations

import re

# Luau's standard library and builtins.
_LUAU_GLOBAL_TEXT = (
    "assert error getmetatable ipairs next newproxy pairs pcall print rawequal rawget "
    "rawlen rawset select setmetatable tonumber tostring type typeof unpack xpcall "
    "gcinfo require collectgarbage getfenv setfenv loadstring _G _VERSION bit32 buffer "
    "coroutine debug math os string table utf8 vector"
)
LUAU_GLOBALS = frozenset(_LUAU_GLOBAL_TEXT.split())

# Roblox engine globals and data types (deprecated ones included: assigning them is
# not an implicit global, using them is reported by the deprecated-api rule).
_ROBLOX_GLOBAL_TEXT = (
    "game workspace Workspace script plugin shared Enum Instance Vector3 Vector2 "
    "Vector3int16 Vector2int16 CFrame Color3 BrickColor UDim UDim2 Ray Region3 "
    "Region3int16 Rect TweenInfo NumberRange NumberSequence NumberSequenceKeypoint "
    "ColorSequence ColorSequenceKeypoint PhysicalProperties Random DateTime Font Faces "
    "Axes RaycastParams OverlapParams PathWaypoint SharedTable DockWidgetPluginGuiInfo "
    "CatalogSearchParams FloatCurveKey RotationCurveKey Path2DControlPoint Content task "
    "settings UserSettings tick time warn version printidentity stats Stats wait Wait "
    "spawn Spawn delay Delay ypcall elapsedTime ElapsedTime"
)
ROBLOX_GLOBALS = frozenset(_ROBLOX_GLOBAL_TEXT.split())

KNOWN_GLOBALS = LUAU_GLOBALS | ROBLOX_GLOBALS

# deprecated global function -> replacement
DEPRECATED_GLOBALS: dict[str, str] = {
    "wait": "task.wait",
    "Wait": "task.wait",
    "spawn": "task.spawn",
    "Spawn": "task.spawn",
    "delay": "task.delay",
    "Delay": "task.delay",
    "ypcall": "pcall",
    "elapsedTime": "os.clock",
    "ElapsedTime": "os.clock",
}

# deprecated method (obj:method()) -> replacement method
DEPRECATED_METHODS: dict[str, str] = {
    "connect": "Connect",
    "disconnect": "Disconnect",
    "wait": "Wait",
    "remove": "Destroy",
    "Remove": "Destroy",
    "destroy": "Destroy",
    "clone": "Clone",
    "findFirstChild": "FindFirstChild",
    "getChildren": "GetChildren",
    "children": "GetChildren",
    "isA": "IsA",
    "isDescendantOf": "IsDescendantOf",
    "GetModelCFrame": "GetPivot",
    "SetPrimaryPartCFrame": "PivotTo",
}

# obj:Method() calls that yield the running thread (besides task.wait, wait and
# coroutine.yield): signal waits, remote/bindable invocations and *Async methods.
YIELDING_METHODS = frozenset({"Wait", "wait", "InvokeServer", "InvokeClient", "Invoke"})
ASYNC_METHOD = re.compile(r"^[A-Z]\w*Async$")

CONNECT_METHODS = frozenset({"Connect", "Once", "ConnectParallel"})

# A client argument counts as checked where it is an argument (at any depth) of a call
# to one of these functions, or of a function whose name says it validates.
CHECK_FUNCTIONS = frozenset({"typeof", "type", "tonumber", "assert"})
VALIDATOR_NAME = re.compile(r"valid|check|verify|sanitiz|sanitis", re.IGNORECASE)
