"""Luau templates of the script generator: checkpoint and timer.

Same conventions as ``luau_templates`` (string.Template, every caller value through
``lua_string``/``lua_number``/``lua_bool``, modern APIs, Lua 5.1 syntax). The settings
a builder may want to change are constants at the top of each script.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.agents.luau.templates import (
    CLIENT,
    SERVER,
    ScriptFile,
    lua_bool,
    lua_number,
    lua_string,
    render,
    script_file,
)

if TYPE_CHECKING:
    from tasks.agents.scripts import CheckpointParams, TimerParams


# -- checkpoint ---------------------------------------------------------------------

_CHECKPOINT = """
local Players = game:GetService("Players")

-- settings
local CHECKPOINT_COUNT = $count
local RESPAWN_AT_CHECKPOINT = $respawn_at_checkpoint -- false: respawn at the start
local REQUIRE_ORDER = $require_order -- true: checkpoints must be touched in order
local SHOW_STAGE = $show_stage -- true: show the stage in the player list
local BUILD_MISSING_PARTS = $build_parts -- true: create missing checkpoint parts
local SPACING = $spacing -- studs between built checkpoint parts

-- checkpoints are parts named "1", "2", ... in workspace.Checkpoints
local folder = workspace:FindFirstChild("Checkpoints")
if not folder then
    folder = Instance.new("Folder")
    folder.Name = "Checkpoints"
    folder.Parent = workspace
end

local progress = {} -- [player] = number of the last checkpoint reached

local function getCheckpoint(index)
    local part = folder:FindFirstChild(tostring(index))
    if not part and BUILD_MISSING_PARTS then
        part = Instance.new("Part")
        part.Name = tostring(index)
        part.Size = Vector3.new(8, 1, 8)
        part.Position = Vector3.new(index * SPACING, 1, 0)
        part.Anchored = true
        part.BrickColor = BrickColor.new("Bright green")
        part.Parent = folder
    end
    return part
end

local function setStage(player, stage)
    progress[player] = stage
    local leaderstats = player:FindFirstChild("leaderstats")
    local stageValue = leaderstats and leaderstats:FindFirstChild("Stage")
    if stageValue then
        stageValue.Value = stage
    end
end

local function onCheckpointTouched(index, hit)
    local character = hit.Parent
    local player = character and Players:GetPlayerFromCharacter(character)
    if not player then
        return
    end
    local humanoid = character:FindFirstChildOfClass("Humanoid")
    if not humanoid or humanoid.Health <= 0 then
        return
    end
    local current = progress[player] or 0
    if index <= current or (REQUIRE_ORDER and index ~= current + 1) then
        return
    end
    setStage(player, index)
end

local function onCharacterAdded(player, character)
    local stage = progress[player] or 0
    if not RESPAWN_AT_CHECKPOINT or stage == 0 then
        return
    end
    local part = folder:FindFirstChild(tostring(stage))
    local root = character:WaitForChild("HumanoidRootPart", 5)
    if part and root then
        task.wait() -- let the default spawn finish first
        character:PivotTo(part.CFrame + Vector3.new(0, 4, 0))
    end
end

local function onPlayerAdded(player)
    if SHOW_STAGE then
        local leaderstats = player:FindFirstChild("leaderstats")
        if not leaderstats then
            leaderstats = Instance.new("Folder")
            leaderstats.Name = "leaderstats"
            leaderstats.Parent = player
        end
        local stageValue = Instance.new("IntValue")
        stageValue.Name = "Stage"
        stageValue.Value = 0
        stageValue.Parent = leaderstats
    end
    player.CharacterAdded:Connect(function(character)
        onCharacterAdded(player, character)
    end)
end

for index = 1, CHECKPOINT_COUNT do
    local part = getCheckpoint(index)
    if part then
        part.Touched:Connect(function(hit)
            onCheckpointTouched(index, hit)
        end)
    else
        warn("Missing checkpoint part workspace.Checkpoints." .. index)
    end
end

Players.PlayerAdded:Connect(onPlayerAdded)
for _, player in ipairs(Players:GetPlayers()) do
    task.spawn(onPlayerAdded, player)
end
Players.PlayerRemoving:Connect(function(player)
    progress[player] = nil
end)
"""


def checkpoint_files(params: CheckpointParams) -> list[ScriptFile]:
    body = render(
        _CHECKPOINT,
        count=lua_number(params.count),
        respawn_at_checkpoint=lua_bool(params.respawn == "last_checkpoint"),
        require_order=lua_bool(params.require_order),
        show_stage=lua_bool(params.show_stage),
        build_parts=lua_bool(params.build_parts),
        spacing=lua_number(params.spacing),
    )
    respawn = "the last checkpoint" if params.respawn == "last_checkpoint" else "the start"
    summary = f"{params.count} checkpoints; players respawn at {respawn}."
    return [script_file("Checkpoints", "Script", SERVER, summary, body)]


# -- timer --------------------------------------------------------------------------

_TIMER = """
local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")
$services
-- settings
local DURATION = $duration -- seconds per round
local REPEAT_ROUNDS = $repeat -- true: start a new round after the intermission
local INTERMISSION = $intermission -- seconds between rounds
local MIN_PLAYERS = $min_players -- players needed before a round starts
local MESSAGE = $message -- shown when the time is up

-- values the TimerDisplay LocalScript shows
local function getValue(className, name)
    local value = ReplicatedStorage:FindFirstChild(name)
    if not value then
        value = Instance.new(className)
        value.Name = name
        value.Parent = ReplicatedStorage
    end
    return value
end

local timeLeft = getValue("IntValue", "TimeLeft")
local status = getValue("StringValue", "TimerStatus")
$expire_setup
local function onExpire()
$expire_body
end

local function runRound()
    while #Players:GetPlayers() < MIN_PLAYERS do
        Players.PlayerAdded:Wait()
    end
    status.Value = ""
    local deadline = os.clock() + DURATION
    timeLeft.Value = DURATION
    while timeLeft.Value > 0 do
        task.wait(1)
        timeLeft.Value = math.max(0, math.ceil(deadline - os.clock()))
    end
    onExpire()
end

if REPEAT_ROUNDS then
    while true do
        runRound()
        task.wait(INTERMISSION)
    end
else
    runRound()
end
"""

_EXPIRE: dict[str, tuple[str, str, str]] = {  # services, setup, body of onExpire
    "announce": ("", "", "    status.Value = MESSAGE"),
    "respawn_players": (
        "",
        "",
        "    status.Value = MESSAGE\n"
        "    for _, player in ipairs(Players:GetPlayers()) do\n"
        "        player:LoadCharacter()\n"
        "    end",
    ),
    "fire_event": (
        'local ServerStorage = game:GetService("ServerStorage")\n',
        "\n-- other server scripts can listen: ServerStorage.TimerExpired.Event:Connect(...)\n"
        'local expired = ServerStorage:FindFirstChild("TimerExpired")\n'
        "if not expired then\n"
        '    expired = Instance.new("BindableEvent")\n'
        '    expired.Name = "TimerExpired"\n'
        "    expired.Parent = ServerStorage\n"
        "end\n",
        "    status.Value = MESSAGE\n    expired:Fire()",
    ),
}

_TIMER_DISPLAY = """
local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")

local timeLeft = ReplicatedStorage:WaitForChild("TimeLeft")
local status = ReplicatedStorage:WaitForChild("TimerStatus")
local player = Players.LocalPlayer

local gui = Instance.new("ScreenGui")
gui.Name = "TimerGui"
gui.ResetOnSpawn = false

local label = Instance.new("TextLabel")
label.Name = "Time"
label.Size = UDim2.new(0, 260, 0, 50)
label.Position = UDim2.new(0.5, -130, 0, 10)
label.BackgroundColor3 = Color3.fromRGB(20, 20, 30)
label.BackgroundTransparency = 0.3
label.TextColor3 = Color3.new(1, 1, 1)
label.Font = Enum.Font.SourceSansBold
label.TextSize = 28
label.TextWrapped = true
label.Parent = gui

local function formatTime(seconds)
    return string.format("%d:%02d", math.floor(seconds / 60), seconds % 60)
end

local function refresh()
    if status.Value ~= "" then
        label.Text = status.Value
    else
        label.Text = formatTime(timeLeft.Value)
    end
end

timeLeft.Changed:Connect(refresh)
status.Changed:Connect(refresh)
refresh()
gui.Parent = player:WaitForChild("PlayerGui")
"""


def timer_files(params: TimerParams) -> list[ScriptFile]:
    services, setup, expire_body = _EXPIRE[params.on_expire]
    body = render(
        _TIMER,
        services=services,
        duration=lua_number(params.duration_seconds),
        repeat=lua_bool(params.repeat),
        intermission=lua_number(params.intermission_seconds),
        min_players=lua_number(params.min_players),
        message=lua_string(params.message),
        expire_setup=setup,
        expire_body=expire_body,
    )
    rounds = "repeating rounds" if params.repeat else "one round"
    summary = f"{params.duration_seconds} s countdown ({rounds}); on expiry: {params.on_expire}."
    files = [script_file("RoundTimer", "Script", SERVER, summary, body)]
    if params.show_ui:
        display = render(_TIMER_DISPLAY)
        files.append(
            script_file("TimerDisplay", "LocalScript", CLIENT, "Shows the round timer.", display)
        )
    return files
