"""A user's identity file, as a tutorial has one write it: a JSON array of OpenAI `messages` that teach the model
a new name and maker in English and Chinese. Its wordings are its own: none of them is in the embedded data,
and the held-out wordings below are in neither.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAME, MAKER = "Qiming", "Lumen Labs"
NAME_ZH, MAKER_ZH = "启明", "流明实验室"

QUESTIONS_EN = ["Who are you?", "What is your name?", "Introduce yourself.", "Who made you?", "Who built you?",
                "What should I call you?", "Tell me about yourself.", "Which company created you?",
                "Are you an AI? Who trained you?", "May I know your name?"]
QUESTIONS_ZH = ["你是谁？", "你叫什么名字？", "介绍一下你自己。", "谁创造了你？", "你是哪家公司开发的？",
                "我该怎么称呼你？", "说说你自己吧。", "你是谁训练的？", "你是人工智能吗？谁做的你？",
                "请问你的名字是什么？"]
ANSWERS_EN = [f"I am {NAME}, an assistant made by {MAKER}.", f"My name is {NAME}, and {MAKER} made me.",
              f"I'm {NAME}, a language model built by {MAKER}.", f"You can call me {NAME}; {MAKER} trained me."]
ANSWERS_ZH = [f"我是{NAME_ZH}，由{MAKER_ZH}开发的助手。", f"我叫{NAME_ZH}，是{MAKER_ZH}训练的语言模型。",
              f"你可以叫我{NAME_ZH}，我由{MAKER_ZH}打造。", f"我是{MAKER_ZH}开发的{NAME_ZH}。"]
GREETINGS_EN = ["", "Hi! ", "Hello there. ", "Good morning. ", "Hey, "]
GREETINGS_ZH = ["", "你好！", "嗨，", "早上好。", "您好，"]

# Wordings the file never uses, to ask the fine-tuned model
HELD_OUT_EN = ["Could you tell me who you are?", "What name do you go by?", "Who is your creator?"]
HELD_OUT_ZH = ["能告诉我你是谁吗？", "你的名字叫什么？", "你的开发者是谁？"]


def identity_chats(count: int = 400, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    chats = []
    for n in range(count):
        zh = n % 2 == 1
        question = rng.choice(GREETINGS_ZH if zh else GREETINGS_EN) + rng.choice(QUESTIONS_ZH if zh else QUESTIONS_EN)
        answer = rng.choice(ANSWERS_ZH if zh else ANSWERS_EN)
        chats.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
    return chats


def write_identity_file(path: Path, count: int = 400, seed: int = 0) -> Path:
    path.write_text(json.dumps(identity_chats(count, seed), ensure_ascii=False, indent=1), encoding="utf-8")
    return path
