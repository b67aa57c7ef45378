"""Write the plugin's health Q&A set: data/health_qa.jsonl (training) and data/health_qa_eval.jsonl (held out).

    python -m minillm_skill_lora.generate      # rewrites both files; the output is the same every run

Twenty general health facts, each asked four ways in English and four in Chinese: three wordings of each
language train, the fourth is held out, so eval asks questions the model never saw. Each record is
{"question", "answer", "key"} (the `health-qa` format this plugin registers); `key` is the words a right
answer must contain. Written for this project; a demonstration set, not medical advice.
"""

from __future__ import annotations

import json
from pathlib import Path

DATA = Path(__file__).parent / "data"

# (English questions, English answer, English key, Chinese questions, Chinese answer, Chinese key)
FACTS = [
    (["How much sleep does an adult need?", "How many hours should adults sleep?",
      "What is a healthy amount of sleep for a grown-up?", "How long should an adult sleep each night?"],
     "Most adults need 7 to 9 hours of sleep each night.", "7 to 9 hours",
     ["成年人需要多少睡眠？", "成年人每晚应该睡几个小时？",
      "成年人健康的睡眠时间是多少？", "一个成年人每晚应该睡多久？"],
     "大多数成年人每晚需要7到9小时的睡眠。", "7到9小时"),
    (["What is a normal body temperature?", "What temperature is normal for the human body?",
      "How warm is a healthy body?", "What body temperature counts as normal?"],
     "A normal body temperature is about 37 °C.", "37 °C",
     ["正常体温是多少？", "人体的正常温度是多少？", "健康的人体温大约是多少？", "多少度的体温算正常？"],
     "正常体温约为37摄氏度。", "37摄氏度"),
    (["How long should I wash my hands?", "For how many seconds should hands be washed?",
      "What is the right time to spend washing hands?", "How long does proper hand washing take?"],
     "Wash your hands with soap for at least 20 seconds.", "20 seconds",
     ["洗手应该洗多久？", "洗手需要多少秒？", "正确洗手要花多长时间？", "好好洗一次手需要多久？"],
     "用肥皂洗手至少20秒。", "20秒"),
    (["What temperature is a fever?", "When does a temperature count as a fever?",
      "At what temperature do I have a fever?", "How high must body temperature be to be a fever?"],
     "A temperature of 38 °C or higher counts as a fever.", "38 °C",
     ["多少度算发烧？", "体温多高算是发烧？", "体温到多少度就是发烧了？", "体温要多高才算发烧？"],
     "体温达到38摄氏度或以上就算发烧。", "38摄氏度"),
    (["What is a normal resting heart rate?", "How fast should a resting heart beat?",
      "What pulse is normal at rest for adults?", "How many heartbeats per minute are normal at rest?"],
     "A normal resting heart rate for adults is 60 to 100 beats per minute.", "60 to 100",
     ["正常的静息心率是多少？", "安静时心跳应该多快？",
      "成年人静息时的正常脉搏是多少？", "静息时每分钟心跳多少次算正常？"],
     "成年人正常静息心率为每分钟60到100次。", "60到100"),
    (["How much water should an adult drink a day?", "How many litres of water do adults need daily?",
      "What is a good daily amount of water?", "How much water should I drink each day?"],
     "Adults should drink about 1.5 to 2 litres of water a day.", "1.5 to 2 litres",
     ["成年人每天应该喝多少水？", "成年人每天需要几升水？", "每天喝多少水比较好？", "我每天应该喝多少水？"],
     "成年人每天应喝大约1.5到2升水。", "1.5到2升"),
    (["How often should I brush my teeth?", "How many times a day should teeth be brushed?",
      "What is the right way to brush teeth each day?", "How often and how long should I brush?"],
     "Brush your teeth twice a day for two minutes.", "twice a day",
     ["应该多久刷一次牙？", "每天应该刷几次牙？", "每天正确的刷牙方法是什么？", "刷牙应该多频繁、刷多久？"],
     "每天刷牙两次，每次两分钟。", "每天刷牙两次"),
    (["How much exercise do adults need?", "How many minutes of exercise should adults get a week?",
      "What is the weekly exercise goal for adults?", "How active should an adult be each week?"],
     "Adults should get at least 150 minutes of moderate exercise a week.", "150 minutes",
     ["成年人需要多少运动？", "成年人每周应该运动多少分钟？",
      "成年人每周的运动目标是多少？", "成年人每周应该有多少活动量？"],
     "成年人每周应至少进行150分钟中等强度运动。", "150分钟"),
    (["What should I do for a minor burn?", "How do I treat a small burn?",
      "What is first aid for a minor burn?", "How should a small burn be cooled?"],
     "Cool a minor burn under cool running water for 20 minutes.", "running water",
     ["轻微烫伤怎么办？", "小烫伤该怎么处理？", "轻微烫伤的急救方法是什么？", "小面积烫伤应该怎么降温？"],
     "轻微烫伤应在流动的凉水下冲20分钟。", "流动的凉水"),
    (["What should I do for a nosebleed?", "How do I stop a nosebleed?",
      "What is first aid for a bleeding nose?", "How should I handle a nosebleed?"],
     "Sit up, lean forward and pinch the soft part of your nose for 10 minutes.", "lean forward",
     ["流鼻血怎么办？", "怎样止住鼻血？", "流鼻血的急救方法是什么？", "遇到流鼻血应该怎么处理？"],
     "坐直，身体前倾，捏住鼻子柔软部分10分钟。", "身体前倾"),
    (["What is normal blood pressure?", "What blood pressure reading is normal?",
      "Which blood pressure counts as healthy?", "What should a normal blood pressure be?"],
     "Normal blood pressure is below 120 over 80.", "120 over 80",
     ["正常血压是多少？", "多少的血压读数算正常？", "什么样的血压算健康？", "正常的血压应该是多少？"],
     "正常血压低于120/80毫米汞柱。", "120/80"),
    (["Which foods are rich in vitamin C?", "Where can I get vitamin C from food?",
      "What fruit has a lot of vitamin C?", "What should I eat for vitamin C?"],
     "Citrus fruits such as oranges are rich in vitamin C.", "oranges",
     ["哪些食物富含维生素C？", "从食物中怎样获得维生素C？", "什么水果含有很多维生素C？", "补充维生素C应该吃什么？"],
     "橙子等柑橘类水果富含维生素C。", "橙子"),
    (["How does the body get vitamin D?", "What helps the body make vitamin D?",
      "Where does vitamin D come from?", "How can I get more vitamin D?"],
     "Sunlight helps the body make vitamin D.", "Sunlight",
     ["身体怎样获得维生素D？", "什么帮助身体合成维生素D？", "维生素D从哪里来？", "怎样才能获得更多维生素D？"],
     "阳光帮助身体合成维生素D。", "阳光"),
    (["Do antibiotics cure a cold?", "Should I take antibiotics for a cold?",
      "Can antibiotics treat the common cold?", "Do antibiotics work against viruses?"],
     "Antibiotics treat bacterial infections, not viral ones like the common cold.", "bacterial",
     ["抗生素能治感冒吗？", "感冒了应该吃抗生素吗？", "抗生素能治疗普通感冒吗？", "抗生素对病毒有效吗？"],
     "抗生素治疗细菌感染，对感冒等病毒感染无效。", "细菌感染"),
    (["What are the signs of a stroke?", "How can I tell someone is having a stroke?",
      "What does a stroke look like?", "Which signs point to a stroke?"],
     "Face drooping, arm weakness and speech trouble are signs of a stroke: call emergency services at once.",
     "Face drooping",
     ["中风有什么征兆？", "怎样判断有人中风了？", "中风是什么样子的？", "哪些迹象说明是中风？"],
     "面部下垂、手臂无力和说话困难是中风的征兆，应立即拨打急救电话。", "面部下垂"),
    (["How fast should chest compressions be in CPR?", "What is the right rate for CPR compressions?",
      "How many chest compressions per minute in CPR?", "At what pace should I press in CPR?"],
     "Give chest compressions at 100 to 120 per minute.", "100 to 120",
     ["心肺复苏时胸外按压要多快？", "心肺复苏按压的正确频率是多少？",
      "心肺复苏每分钟按压多少次？", "心肺复苏时应该以什么节奏按压？"],
     "胸外按压的频率为每分钟100到120次。", "100到120"),
    (["What sunscreen should I use?", "Which SPF is enough for sunscreen?",
      "How strong should sunscreen be?", "What SPF do I need?"],
     "Use sunscreen of SPF 30 or higher.", "SPF 30",
     ["应该用什么防晒霜？", "防晒霜的SPF多少才够？", "防晒霜应该有多强？", "我需要多少SPF的防晒霜？"],
     "使用SPF30或以上的防晒霜。", "SPF30"),
    (["How much fruit and vegetables should I eat?", "How many portions of fruit and vegetables a day?",
      "What is the daily goal for fruit and vegetables?", "How many servings of fruit and veg do I need?"],
     "Eat at least five portions of fruit and vegetables a day.", "five portions",
     ["应该吃多少水果和蔬菜？", "每天吃几份水果和蔬菜？", "每天水果和蔬菜的目标是多少？", "我每天需要多少份果蔬？"],
     "每天至少吃五份水果和蔬菜。", "五份"),
    (["How should I treat a sprained ankle?", "What helps a sprained ankle heal?",
      "What is first aid for a sprain?", "What should I do after twisting my ankle?"],
     "Rest, ice, compression and elevation help a sprained ankle.", "ice",
     ["脚踝扭伤怎么处理？", "什么有助于扭伤的脚踝恢复？", "扭伤的急救方法是什么？", "扭到脚踝后应该怎么办？"],
     "休息、冰敷、加压和抬高有助于扭伤的脚踝恢复。", "冰敷"),
    (["How can I rest my eyes at a screen?", "What is the 20-20-20 rule?",
      "How do I avoid eye strain from screens?", "How often should I look away from my screen?"],
     "Every 20 minutes, look at something 20 feet away for 20 seconds.", "20 feet",
     ["看屏幕时怎样让眼睛休息？", "什么是20-20-20法则？",
      "怎样避免屏幕引起的眼疲劳？", "应该多久把视线从屏幕移开一次？"],
     "每20分钟看20英尺外的物体20秒。", "20英尺"),
]
HELD_OUT = 3  # the fourth wording of each language is the eval question


def records() -> dict[str, list[dict]]:
    files: dict[str, list[dict]] = {"health_qa.jsonl": [], "health_qa_eval.jsonl": []}
    for en_questions, en_answer, en_key, zh_questions, zh_answer, zh_key in FACTS:
        for questions, answer, key in ((en_questions, en_answer, en_key), (zh_questions, zh_answer, zh_key)):
            for number, question in enumerate(questions):
                name = "health_qa_eval.jsonl" if number == HELD_OUT else "health_qa.jsonl"
                files[name].append({"question": question, "answer": answer, "key": key})
    return files


def main() -> None:
    DATA.mkdir(exist_ok=True)
    for name, rows in records().items():
        text = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        (DATA / name).write_text(text, encoding="utf-8")
        print(f"{DATA / name}: {len(rows)} records")


if __name__ == "__main__":
    main()
