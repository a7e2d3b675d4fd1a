"""Luau templates of the script generator: the quiz UI (quiz_ui).

Same conventions as ``luau_templates`` (string.Template, literals through
``lua_string``/``lua_number``, modern APIs, Lua 5.1 syntax). The quiz keeps its answers
on the server: the client gets prompts and options from a ModuleScript, sends
(question number, option number) through a RemoteEvent, and the server checks the
type and range of both before using them, scores each question once per player and
replies with the result and the correct option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasks.agents.luau.templates import (
    CLIENT,
    SERVER,
    SHARED,
    ScriptFile,
    lua_number,
    lua_string,
    render,
    script_file,
)

if TYPE_CHECKING:
    from tasks.agents.scripts import QuizUIParams


# -- quiz_ui ------------------------------------------------------------------------

_QUIZ_DATA = """
-- The questions the QuizClient LocalScript shows. The answers are not here:
-- they stay on the server (QuizServer), where clients cannot read them.
return {
    title = $title,
    remoteName = $remote_name,
    feedbackSeconds = $feedback_seconds,
    questions = {
$questions
    },
}
"""

_QUIZ_SERVER = """
local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")

-- settings
local REMOTE_NAME = $remote_name
local POINTS_PER_CORRECT = $points -- added to the leaderstats value POINTS_STAT
local POINTS_STAT = $points_stat -- nil: no points
-- the correct option number of each question, and its number of options
local ANSWERS = { $answers }
local OPTION_COUNTS = { $option_counts }

local remote = ReplicatedStorage:FindFirstChild(REMOTE_NAME)
if not remote then
    remote = Instance.new("RemoteEvent")
    remote.Name = REMOTE_NAME
    remote.Parent = ReplicatedStorage
end

local results = {} -- [player] = { [question number] = true/false }

local function isValidIndex(value, count)
    return value == math.floor(value) and value >= 1 and value <= count
end

local function awardPoints(player)
    if POINTS_STAT == nil or POINTS_PER_CORRECT == 0 then
        return
    end
    local leaderstats = player:FindFirstChild("leaderstats")
    local stat = leaderstats and leaderstats:FindFirstChild(POINTS_STAT)
    if stat then
        stat.Value = stat.Value + POINTS_PER_CORRECT
    end
end

remote.OnServerEvent:Connect(function(player, questionIndex, choice)
    -- never trust the client: check the type and the range of every argument
    if typeof(questionIndex) ~= "number" or typeof(choice) ~= "number" then
        return
    end
    if not isValidIndex(questionIndex, #ANSWERS) then
        return
    end
    if not isValidIndex(choice, OPTION_COUNTS[questionIndex]) then
        return
    end
    local answered = results[player]
    if not answered then
        answered = {}
        results[player] = answered
    end
    local correct = answered[questionIndex]
    if correct == nil then -- first answer: score it (once)
        correct = choice == ANSWERS[questionIndex]
        answered[questionIndex] = correct
        if correct then
            awardPoints(player)
        end
    end
    remote:FireClient(player, questionIndex, correct, ANSWERS[questionIndex])
end)

Players.PlayerRemoving:Connect(function(player)
    results[player] = nil
end)
"""

_QUIZ_CLIENT = """
local Players = game:GetService("Players")
local ReplicatedStorage = game:GetService("ReplicatedStorage")

local QuizData = require(ReplicatedStorage:WaitForChild("QuizData"))
local remote = ReplicatedStorage:WaitForChild(QuizData.remoteName)
local player = Players.LocalPlayer

local current = 1 -- number of the question on screen
local correctCount = 0
local waiting = false -- true while the server checks an answer

local gui = Instance.new("ScreenGui")
gui.Name = "QuizGui"
gui.ResetOnSpawn = false

local frame = Instance.new("Frame")
frame.Name = "Quiz"
frame.Size = UDim2.fromScale(0.5, 0.7)
frame.Position = UDim2.fromScale(0.25, 0.15)
frame.BackgroundColor3 = Color3.fromRGB(30, 30, 45)
frame.Parent = gui

local function makeLabel(name, y, height, textSize)
    local label = Instance.new("TextLabel")
    label.Name = name
    label.Size = UDim2.new(1, -20, 0, height)
    label.Position = UDim2.new(0, 10, 0, y)
    label.BackgroundTransparency = 1
    label.TextColor3 = Color3.new(1, 1, 1)
    label.Font = Enum.Font.SourceSansBold
    label.TextSize = textSize
    label.TextWrapped = true
    label.Text = ""
    label.Parent = frame
    return label
end

local titleLabel = makeLabel("Title", 10, 40, 30)
titleLabel.Text = QuizData.title
local questionLabel = makeLabel("Question", 55, 90, 24)
local feedbackLabel = makeLabel("Feedback", 150, 30, 22)

local optionList = Instance.new("Frame")
optionList.Name = "Options"
optionList.BackgroundTransparency = 1
optionList.Size = UDim2.new(1, -20, 1, -200)
optionList.Position = UDim2.new(0, 10, 0, 190)
optionList.Parent = frame

local layout = Instance.new("UIListLayout")
layout.Padding = UDim.new(0, 6)
layout.SortOrder = Enum.SortOrder.LayoutOrder
layout.Parent = optionList

local function clearOptions()
    for _, child in ipairs(optionList:GetChildren()) do
        if child:IsA("TextButton") then
            child:Destroy()
        end
    end
end

local function choose(choice)
    if waiting then
        return
    end
    waiting = true
    feedbackLabel.Text = "Checking..."
    remote:FireServer(current, choice)
end

local function addOption(index, text)
    local button = Instance.new("TextButton")
    button.Name = "Option" .. index
    button.LayoutOrder = index
    button.Size = UDim2.new(1, 0, 0, 44)
    button.BackgroundColor3 = Color3.fromRGB(60, 90, 160)
    button.TextColor3 = Color3.new(1, 1, 1)
    button.Font = Enum.Font.SourceSans
    button.TextSize = 22
    button.TextWrapped = true
    button.Text = text
    button.Parent = optionList
    button.Activated:Connect(function()
        choose(index)
    end)
end

local function showQuestion()
    clearOptions()
    local total = #QuizData.questions
    local question = QuizData.questions[current]
    if not question then
        questionLabel.Text = "Quiz complete!"
        feedbackLabel.Text = "You answered " .. correctCount .. " of " .. total .. " correctly."
        return
    end
    waiting = false
    feedbackLabel.Text = ""
    questionLabel.Text = "Question " .. current .. " of " .. total .. ": " .. question.prompt
    for index, text in ipairs(question.options) do
        addOption(index, text)
    end
end

remote.OnClientEvent:Connect(function(questionIndex, correct, answerIndex)
    if questionIndex ~= current then
        return
    end
    if correct then
        correctCount = correctCount + 1
        feedbackLabel.Text = "Correct!"
    else
        local options = QuizData.questions[current].options
        feedbackLabel.Text = "Not quite. The answer is: " .. tostring(options[answerIndex])
    end
    task.wait(QuizData.feedbackSeconds)
    current = current + 1
    showQuestion()
end)

gui.Parent = player:WaitForChild("PlayerGui")
showQuestion()
"""


def quiz_files(params: QuizUIParams) -> list[ScriptFile]:
    rows = []
    for q in params.questions:
        options = ", ".join(lua_string(o) for o in q.options)
        rows.append(
            f"        {{\n            prompt = {lua_string(q.prompt)},\n"
            f"            options = {{ {options} }},\n        }},"
        )
    remote = lua_string(params.remote_name)
    data = render(
        _QUIZ_DATA,
        title=lua_string(params.title),
        remote_name=remote,
        feedback_seconds=lua_number(params.feedback_seconds),
        questions="\n".join(rows),
    )
    server = render(
        _QUIZ_SERVER,
        remote_name=remote,
        points=lua_number(params.points_per_correct),
        points_stat="nil" if params.points_stat is None else lua_string(params.points_stat),
        answers=", ".join(str(q.answer_index + 1) for q in params.questions),
        option_counts=", ".join(str(len(q.options)) for q in params.questions),
    )
    count = len(params.questions)
    return [
        script_file("QuizData", "ModuleScript", SHARED, f"{count} quiz questions.", data),
        script_file("QuizServer", "Script", SERVER, "Checks quiz answers sent by clients.", server),
        script_file(
            "QuizClient",
            "LocalScript",
            CLIENT,
            f"Shows the quiz {params.title}.",
            render(_QUIZ_CLIENT),
        ),
    ]
