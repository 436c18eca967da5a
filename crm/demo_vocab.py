"""Word banks for the demo company: people, places, segments, and the lines of its calls.

Kept apart from the generator so the generator reads as the story of the company and
this file as its vocabulary. Everything here is fictional.
"""

from __future__ import annotations

REGIONS = [
    # code, zh, en, cities (zh, en)
    ("east", "华东", "East China", [("上海", "Shanghai"), ("杭州", "Hangzhou"), ("南京", "Nanjing"), ("苏州", "Suzhou"), ("宁波", "Ningbo"), ("合肥", "Hefei"), ("济南", "Jinan"), ("青岛", "Qingdao")]),
    ("south", "华南", "South China", [("广州", "Guangzhou"), ("深圳", "Shenzhen"), ("东莞", "Dongguan"), ("佛山", "Foshan"), ("厦门", "Xiamen"), ("南宁", "Nanning"), ("海口", "Haikou")]),
    ("north", "华北", "North China", [("北京", "Beijing"), ("天津", "Tianjin"), ("石家庄", "Shijiazhuang"), ("太原", "Taiyuan"), ("沈阳", "Shenyang"), ("大连", "Dalian"), ("呼和浩特", "Hohhot")]),
    ("west", "西部", "West China", [("成都", "Chengdu"), ("重庆", "Chongqing"), ("西安", "Xi'an"), ("昆明", "Kunming"), ("贵阳", "Guiyang"), ("兰州", "Lanzhou")]),
]

# Staff with fixed names so that documentation and evals can name them.
# (name, name_en, login, language)
MANAGERS = {
    "east": ("陈静", "Jing Chen", "chenjing", "zh"),
    "south": ("黄磊", "Lei Huang", "huanglei", "zh"),
    "north": ("赵敏", "Min Zhao", "zhaomin", "zh"),
    "west": ("周强", "Qiang Zhou", "zhouqiang", "zh"),
}
TRAINER = ("林芳", "Fang Lin", "linfang", "zh")
ADMIN = ("王建华", "Jianhua Wang", "wangjianhua", "zh")
REPS = {
    "east": [("张伟", "Wei Zhang", "zhangwei", "zh"), ("李娜", "Na Li", "lina", "zh"), ("刘洋", "Yang Liu", "liuyang", "zh"), ("杨勇", "Yong Yang", "yangyong", "zh"),
             ("吴杰", "Jie Wu", "wujie", "zh"), ("徐丽", "Li Xu", "xuli", "zh"), ("孙涛", "Tao Sun", "suntao", "zh"), ("David Chen", "David Chen", "davidchen", "en")],
    "south": [("胡明", "Ming Hu", "huming", "zh"), ("朱艳", "Yan Zhu", "zhuyan", "zh"), ("高超", "Chao Gao", "gaochao", "zh"), ("林雨桐", "Yutong Lin", "linyutong", "zh"),
              ("何浩然", "Haoran He", "hehaoran", "zh"), ("郭霞", "Xia Guo", "guoxia", "zh"), ("马刚", "Gang Ma", "magang", "zh"), ("Emily Wang", "Emily Wang", "emilywang", "en")],
    "north": [("罗平", "Ping Luo", "luoping", "zh"), ("梁晓东", "Xiaodong Liang", "liangxiaodong", "zh"), ("宋思远", "Siyuan Song", "songsiyuan", "zh"), ("郑娟", "Juan Zheng", "zhengjuan", "zh"),
              ("谢军", "Jun Xie", "xiejun", "zh"), ("韩子涵", "Zihan Han", "hanzihan", "zh"), ("唐秀英", "Xiuying Tang", "tangxiuying", "zh"), ("冯博", "Bo Feng", "fengbo", "zh")],
    "west": [("邓敏", "Min Deng", "dengmin", "zh"), ("曹阳", "Yang Cao", "caoyang", "zh"), ("彭佳", "Jia Peng", "pengjia", "zh"), ("曾磊", "Lei Zeng", "zenglei", "zh"),
             ("肖雪", "Xue Xiao", "xiaoxue", "zh"), ("田野", "Ye Tian", "tianye", "zh"), ("董健", "Jian Dong", "dongjian", "zh"), ("袁梦", "Meng Yuan", "yuanmeng", "zh")],
}

CONTACT_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁蔡蒋余于杜叶程魏苏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
CONTACT_GIVEN = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "霞", "平", "刚", "建国", "建华", "志强", "海燕", "文博", "晓明", "春梅", "国庆", "丽华", "振宇", "雪梅", "宏伟"]
EN_FIRST = ["Anna", "Lukas", "Sophie", "Oliver", "Emma", "Noah", "Mia", "Liam", "Hannah", "Jonas", "Clara", "Ethan", "Grace", "Felix", "Olivia", "Henrik"]
EN_LAST = ["Müller", "Schmidt", "Johansson", "Smith", "Brown", "Larsen", "Novak", "Rossi", "Dubois", "Tanaka", "Kim", "Patel", "Nguyen", "Walker", "Fischer", "Berg"]

# segment → (industry, scenario, value range CNY, zh name patterns, contact titles, products)
SEGMENTS = {
    "三级综合医院": {
        "industry": "healthcare", "scenario": "hospital_procurement", "value": (200_000, 3_000_000), "weight": 24,
        "names": ["{city}市第{n}人民医院", "{city}市中心医院", "{city}医科大学附属第{n}医院", "{city}市中医院", "{city}市妇幼保健院"],
        "titles": [("设备科科长", "procurement"), ("采购中心主任", "procurement"), ("信息科主任", "influencer"), ("副院长", "decision_maker"), ("临床工程师", "engineer"), ("放射科主任", "user")],
        "products": ["超声影像系统", "设备全生命周期管理平台", "手术室智能排程系统", "骨科耗材集采方案", "远程运维服务包"],
    },
    "民营口腔连锁": {
        "industry": "healthcare", "scenario": "dental_chain", "value": (50_000, 600_000), "weight": 12,
        "names": ["{city}{brand}口腔连锁", "{brand}齿科({city})", "{city}{brand}口腔医院"],
        "titles": [("运营总监", "decision_maker"), ("采购经理", "procurement"), ("院长", "decision_maker"), ("主任医师", "user"), ("财务总监", "influencer")],
        "products": ["口腔CBCT", "诊所SaaS管理系统", "多门店设备租赁方案", "数字化种植导板服务"],
    },
    "汽车零部件": {
        "industry": "manufacturing", "scenario": "manufacturing_mes", "value": (300_000, 5_000_000), "weight": 20,
        "names": ["{city}{brand}汽车零部件有限公司", "{city}{brand}精密制造股份有限公司", "{brand}汽车部件({city})有限公司"],
        "titles": [("生产总监", "decision_maker"), ("IT经理", "influencer"), ("设备工程师", "engineer"), ("采购经理", "procurement"), ("财务总监", "influencer"), ("质量经理", "user")],
        "products": ["MES制造执行系统", "设备预测性维护平台", "质量追溯系统", "产线数字孪生项目"],
    },
    "新能源装备": {
        "industry": "energy", "scenario": "energy_equipment", "value": (500_000, 8_000_000), "weight": 16,
        "names": ["{city}{brand}新能源装备股份有限公司", "{city}{brand}风电设备有限公司", "{city}{brand}储能科技有限公司", "{city}电力集团设备处"],
        "titles": [("设备处工程师", "engineer"), ("技术总监", "decision_maker"), ("采购部长", "procurement"), ("项目经理", "influencer"), ("总经理", "decision_maker")],
        "products": ["风电变流器状态监测系统", "储能电站运维平台", "新能源设备远程诊断服务", "变流器备件集中采购"],
    },
    "中小企业SaaS": {
        "industry": "software", "scenario": "saas_renewal", "value": (20_000, 200_000), "weight": 18,
        "names": ["{city}{brand}科技有限公司", "{city}{brand}贸易有限公司", "{city}{brand}信息技术有限公司"],
        "titles": [("总经理", "decision_maker"), ("销售总监", "user"), ("IT负责人", "influencer"), ("财务经理", "procurement")],
        "products": ["销售分析SaaS年度订阅", "SaaS席位扩容", "数据看板高级版"],
    },
    "政府及公共机构": {
        "industry": "government", "scenario": "government_tender", "value": (300_000, 5_000_000), "weight": 10,
        "names": ["{city}市卫生健康委员会", "{city}市{district}区政务服务中心", "{city}市疾病预防控制中心", "{city}市公共资源交易中心采购项目"],
        "titles": [("信息中心主任", "decision_maker"), ("采购办科长", "procurement"), ("项目负责人", "influencer"), ("技术专家", "engineer")],
        "products": ["区域医疗设备监管平台", "公共卫生数据平台", "政务设备运维外包"],
    },
}
BRANDS = ["恒立", "华瑞", "新元", "中科", "博远", "金泰", "宏达", "天成", "瑞丰", "广益", "海川", "联创", "鼎盛", "卓越", "东升", "德信", "明辉", "安达", "佳贝", "美齿", "优诺", "远航", "精工", "睿驰"]
DISTRICTS = ["高新", "经开", "滨江", "新城", "南山", "浦东", "天河", "锦江"]
INTERNATIONAL = [
    ("Nordic MedTech GmbH", "三级综合医院"), ("Pacific Auto Components Ltd", "汽车零部件"), ("Helios Wind Systems AG", "新能源装备"),
    ("Bright Smile Dental Group", "民营口腔连锁"), ("Vantage Analytics Pte Ltd", "中小企业SaaS"), ("Rhine Precision Parts GmbH", "汽车零部件"),
    ("Aurora Energy Storage Inc", "新能源装备"), ("St. Luke's International Clinic", "三级综合医院"), ("Kestrel Drive Systems Ltd", "汽车零部件"),
    ("Meridian Dental Care", "民营口腔连锁"), ("Oakridge Software Co", "中小企业SaaS"), ("Baltic Grid Solutions", "新能源装备"),
]
EN_TITLES = [("Head of Procurement", "procurement"), ("Plant Director", "decision_maker"), ("IT Manager", "influencer"), ("Maintenance Engineer", "engineer"), ("CFO", "influencer"), ("Chief Medical Officer", "decision_maker")]
EN_PRODUCTS = {
    "三级综合医院": ["ultrasound imaging upgrade", "equipment lifecycle platform"],
    "汽车零部件": ["MES rollout", "predictive maintenance platform"],
    "新能源装备": ["converter condition monitoring", "storage plant O&M platform"],
    "民营口腔连锁": ["dental CBCT fleet", "clinic SaaS suite"],
    "中小企业SaaS": ["analytics SaaS renewal", "seat expansion"],
}

PAGES = {
    "product": ["产品页: 超声影像系统", "产品页: MES制造执行系统", "产品页: 风电变流器监测", "产品页: 诊所SaaS", "Product page: Analytics Suite"],
    "tech_doc": ["技术文档: 变流器故障诊断白皮书", "技术文档: MES接口规范", "技术文档: 设备联网安全说明", "Tech doc: API reference"],
    "pricing": ["价格页", "Pricing page"],
    "case": ["案例: 华东三甲医院设备运维", "案例: 汽车零部件工厂停机降低30%", "Case study: wind farm uptime"],
    "kb_ops": ["知识库: 运维模块", "Knowledge base: operations module"],
}
PDFS = ["产品手册.pdf", "技术参数对比表.pdf", "集采政策解读.pdf", "ROI测算模板.pdf", "Product brochure.pdf"]
POLICY_ARTICLES = ["国产替代政策解读", "DRG支付改革与设备采购", "医疗设备集采新规", "新能源补贴政策调整"]

# ---------------------------------------------------------------------------------------
# Call lines. Each scenario family has customer pain points; all calls share the rep's
# question banks. Chinese lines are written without question marks on purpose: that is
# how Whisper transcribes Mandarin.
# ---------------------------------------------------------------------------------------
PAIN_POINTS_ZH = {
    "healthcare": [
        "我们设备科最头疼的是维修响应太慢 一台CT停机一天就少做四十多个检查",
        "现在设备台账全靠Excel 每次检查都要临时翻记录 经常对不上",
        "集采以后预算压得很紧 科室抱怨新设备迟迟批不下来",
        "说实话 去年外包的维保公司经常拖延 临床意见很大",
        "我们口腔门店之间数据不通 院长看不到各店的真实经营情况",
    ],
    "manufacturing": [
        "我们产线换型时间太长了 经常一停就是两个小时",
        "最大的问题是质量追溯 客户投诉来了我们要花三天才能查到批次",
        "设备突发故障太多 上个月非计划停机损失了差不多八十万",
        "主机厂对交付周期要求越来越紧 我们现在跟不上",
    ],
    "energy": [
        "风场在偏远地区 变流器一出故障运维人员要跑半天才能到现场",
        "储能电站的告警太多了 真正有用的很少 值班人员根本看不过来",
        "备件库存很难管 有的积压有的又缺货 成本太高",
    ],
    "software": [
        "我们销售团队用了一年 但是很多人还是在用表格 系统用得不深",
        "数据看板更新太慢 管理层开会的时候数字经常对不上",
        "续费价格涨了我们有点吃不消 老板在考虑要不要换",
    ],
    "government": [
        "上级要求年底前完成全区设备监管平台 时间特别紧",
        "之前的项目验收出过问题 这次审计要求非常严格",
        "各医院的数据标准不统一 汇总上来的数据经常有错",
    ],
}
PAIN_POINTS_EN = [
    "Honestly our biggest headache is unplanned downtime, we lost almost two shifts last month",
    "The problem is our data is scattered across three systems and nobody trusts the numbers",
    "We keep missing delivery dates because maintenance is always reactive",
    "Our clinicians complain that service response takes far too long",
    "The renewal price went up and my CFO is not happy about it",
]
CUSTOMER_NEUTRAL_ZH = [
    "我们医院今年的设备预算大概在上半年就定下来了",
    "这个事情一般是设备科先提需求 然后走院办会",
    "我们现在用的是另外一家的系统 用了差不多三年",
    "你们之前发的资料我大概看了一下",
    "下个月我们有一个内部评审会",
    "好的 这个我可以跟领导汇报一下",
    "我们工厂一共有六条产线 其中两条是去年新上的",
    "嗯 这个情况我了解",
    "我们那边的流程比较长 一般要三个月左右",
    "对 主要是技术部门在评估",
]
CUSTOMER_NEUTRAL_EN = [
    "We run four plants, two of them in Jiangsu",
    "Procurement usually gets involved once the budget is approved",
    "We looked at your brochure last week",
    "Our current vendor contract ends in March",
    "I'd need to check with our IT team on that",
    "That makes sense",
]
OBJECTIONS_ZH = ["你们的价格比另外两家高了不少", "今年确实没有这块预算了", "我们已经有合作的供应商了 换起来风险很大", "这个还要等集采结果出来再说"]
OBJECTIONS_EN = ["Your price is quite a bit higher than the other two bids", "We really don't have budget for this until next year", "We already have a supplier and switching is risky"]
WHY_QUESTIONS_ZH = [
    "为什么这个问题现在变得这么紧迫",
    "是什么原因让维修响应一直这么慢",
    "为啥之前那家没能解决这个问题",
    "怎么会每次都要三天才能查到批次",
    "为什么领导今年特别关注这件事",
    "这个情况是什么原因造成的",
]
WHY_QUESTIONS_EN = [
    "Why has this become urgent right now",
    "What makes the downtime so hard to predict",
    "How come the numbers never match between systems",
    "Why did the previous vendor not manage to fix it",
    "What's the reason your CFO is pushing back now",
]
OPEN_QUESTIONS_ZH = [
    "能具体说说现在的流程是怎么走的吗",
    "您那边一般是怎么评估这类项目的",
    "这件事对临床科室有什么影响",
    "如果这个问题解决了 对你们意味着什么",
    "除了您之外 还有哪些人会参与决策",
    "你们理想中的方案是什么样的",
]
OPEN_QUESTIONS_EN = [
    "Could you walk me through how the process works today",
    "How do you usually evaluate projects like this",
    "What would it mean for your team if this were solved",
    "Who else will be involved in the decision",
]
CLOSED_QUESTIONS_ZH = ["你们今年有这块预算吗", "下周二方便安排一次演示吗", "是设备科来牵头吗", "合同大概什么时候能走完"]
CLOSED_QUESTIONS_EN = ["Do you have budget allocated this year", "Can we schedule a demo next Tuesday", "Is procurement leading this", "Would Q1 work for a pilot"]
PITCH_ZH = [
    "我们的方案可以把非计划停机降低百分之三十左右",
    "我们在华东有二十多家三甲医院的成功案例",
    "这个平台支持和你们现有的HIS系统对接",
    "我们的价格虽然高一点 但是全生命周期成本更低",
    "我们可以提供七乘二十四小时的远程运维",
    "我给您介绍一下我们最新版本的功能",
]
PITCH_EN = [
    "Our platform typically cuts unplanned downtime by around thirty percent",
    "We integrate with your existing ERP out of the box",
    "Let me walk you through the key features of the new release",
    "Our total cost of ownership is lower over five years",
]
ACK_ZH = ["明白 这个很关键", "理解 很多客户都有类似的情况", "好的 我记下来了"]
ACK_EN = ["I see, that's important", "Understood, we hear that a lot", "Got it, noted"]
