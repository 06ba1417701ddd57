/**
 * The inspection plans offered to a new community (pure: no I/O). The plans demand that security
 * facilities are "regularly maintained"; these are the usual rhythms: cameras and access control
 * monthly, fire equipment monthly, elevators at least every 15 days (the semi-monthly elevator
 * service of the elevator maintenance rules), hydrant pressure monthly, perimeter alarms
 * quarterly. Each has a checklist in Chinese and English, items graded by how bad a failure is
 * (which sets the priority of the ticket a failure opens).
 */
import type { ChecklistSeverity, FacilityCategory } from '../../db/types.js';

export interface DefaultChecklistItem {
  id: string;
  zh: string;
  en: string;
  severity: ChecklistSeverity;
}

export interface DefaultPlan {
  template: string;
  name: { zh: string; en: string };
  description: { zh: string; en: string };
  categories: FacilityCategory[];
  /** RRULE on the community's wall clock, from the first day of the current month at 09:00. */
  rrule: string;
  dueWindowMinutes: number;
  leadTimeMinutes: number;
  checklist: DefaultChecklistItem[];
}

const DAY = 1440;

export const DEFAULT_PLANS: readonly DefaultPlan[] = [
  {
    template: 'cameras_access',
    name: { zh: '监控摄像机与门禁月度巡检', en: 'Monthly check of cameras and access control' },
    description: { zh: '每月 5 日：摄像机画面、录像与门禁开关门', en: 'The 5th of each month: camera images, recording, and access control' },
    categories: ['camera', 'access_control'],
    rrule: 'FREQ=MONTHLY;BYMONTHDAY=5',
    dueWindowMinutes: 3 * DAY,
    leadTimeMinutes: DAY,
    checklist: [
      { id: 'image', zh: '画面清晰，无遮挡、无模糊、无偏移', en: 'Image is clear: not blocked, blurred or turned away', severity: 'high' },
      { id: 'recording', zh: '设备在线并正常录像，录像可回放且保存不少于 30 天', en: 'Online and recording; recordings play back and are kept at least 30 days', severity: 'high' },
      { id: 'night', zh: '夜视 / 红外补光正常', en: 'Night vision / infrared lighting works', severity: 'medium' },
      { id: 'clock', zh: '设备时间与标准时间一致', en: 'Device clock shows the correct time', severity: 'low' },
      { id: 'open', zh: '门禁刷卡、人脸、密码开门正常', en: 'Access control opens by card, face and code', severity: 'high' },
      { id: 'lock', zh: '电磁锁、闭门器正常，门能自动关闭到位', en: 'Magnetic lock and door closer work; the door closes fully by itself', severity: 'medium' },
      { id: 'fire_release', zh: '消防联动及紧急开门功能正常', en: 'Fire-alarm release and emergency opening work', severity: 'critical' },
    ],
  },
  {
    template: 'fire_equipment',
    name: { zh: '消防设施月度检查', en: 'Monthly check of fire equipment' },
    description: { zh: '每月 10 日：灭火器、消火栓箱、应急照明、防火门与疏散通道', en: 'The 10th of each month: extinguishers, hydrant cabinets, emergency lighting, fire doors and escape routes' },
    categories: ['fire_equipment'],
    rrule: 'FREQ=MONTHLY;BYMONTHDAY=10',
    dueWindowMinutes: 3 * DAY,
    leadTimeMinutes: DAY,
    checklist: [
      { id: 'extinguisher', zh: '灭火器压力指针在绿区，在有效期内，铅封完好', en: 'Extinguisher gauge in the green, within its service date, seal intact', severity: 'high' },
      { id: 'cabinet', zh: '消火栓箱内水带、水枪、阀门齐全完好', en: 'Hydrant cabinet has its hose, nozzle and valve, all intact', severity: 'high' },
      { id: 'lighting', zh: '应急照明和安全出口指示灯正常点亮', en: 'Emergency lights and exit signs light up', severity: 'high' },
      { id: 'doors', zh: '防火门闭门器有效，常闭防火门处于关闭状态', en: 'Fire door closers work; normally-closed fire doors are closed', severity: 'critical' },
      { id: 'routes', zh: '疏散通道、安全出口畅通，无堆放杂物、无锁闭', en: 'Escape routes and exits are clear, not blocked or locked', severity: 'critical' },
    ],
  },
  {
    template: 'elevators',
    name: { zh: '电梯半月维保检查', en: 'Elevator service every 15 days' },
    description: { zh: '每 15 天：按电梯维护保养规则的半月保养项目检查', en: 'Every 15 days: the semi-monthly items of the elevator maintenance rules' },
    categories: ['elevator'],
    rrule: 'FREQ=DAILY;INTERVAL=15',
    dueWindowMinutes: 2 * DAY,
    leadTimeMinutes: DAY,
    checklist: [
      { id: 'alarm', zh: '轿厢紧急报警装置及五方对讲正常', en: 'Car emergency alarm and intercom work', severity: 'critical' },
      { id: 'doors', zh: '层门、轿门开关顺畅，防夹保护装置有效', en: 'Landing and car doors move smoothly; door safety edge works', severity: 'high' },
      { id: 'levelling', zh: '平层准确，无明显高差', en: 'Car stops level with the floor', severity: 'medium' },
      { id: 'ride', zh: '运行无异响、无异常抖动', en: 'No unusual noise or vibration while running', severity: 'medium' },
      { id: 'records', zh: '维保记录已签字，检验合格标志在有效期内', en: 'Service record signed; inspection certificate valid', severity: 'high' },
      { id: 'car', zh: '轿厢照明、通风正常', en: 'Car lighting and ventilation work', severity: 'low' },
    ],
  },
  {
    template: 'hydrant_pressure',
    name: { zh: '消防给水压力月度检查', en: 'Monthly hydrant pressure check' },
    description: { zh: '每月 15 日：管网压力、稳压设备与水箱水位', en: 'The 15th of each month: network pressure, pressure-keeping pump and tank level' },
    categories: ['hydrant_pressure'],
    rrule: 'FREQ=MONTHLY;BYMONTHDAY=15',
    dueWindowMinutes: 3 * DAY,
    leadTimeMinutes: DAY,
    checklist: [
      { id: 'pressure', zh: '最不利点（末端试水）压力符合设计要求', en: 'Pressure at the least favourable point (end test valve) meets the design value', severity: 'critical' },
      { id: 'sensor', zh: '压力传感器在线，读数与现场压力表一致', en: 'Pressure sensor online; its reading matches the gauge', severity: 'high' },
      { id: 'pump', zh: '稳压泵启停正常，无频繁启动', en: 'Pressure-keeping pump starts and stops normally, not too often', severity: 'high' },
      { id: 'tank', zh: '消防水箱 / 水池水位正常', en: 'Fire water tank level is normal', severity: 'high' },
      { id: 'valves', zh: '阀门处于正常开启状态，管道无渗漏', en: 'Valves are in their normal open position; no leaks', severity: 'medium' },
    ],
  },
  {
    template: 'perimeter_alarms',
    name: { zh: '周界报警季度测试', en: 'Quarterly perimeter alarm test' },
    description: { zh: '每季度（每 3 个月的 20 日）：逐个防区触发测试', en: 'Every quarter (the 20th, every 3 months): trigger each zone' },
    categories: ['perimeter_alarm'],
    rrule: 'FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=20',
    dueWindowMinutes: 7 * DAY,
    leadTimeMinutes: 3 * DAY,
    checklist: [
      { id: 'zones', zh: '逐个防区触发测试，均能正常报警', en: 'Each zone raises an alarm when triggered', severity: 'critical' },
      { id: 'control_room', zh: '报警信号准确传至监控中心并显示正确防区', en: 'The alarm reaches the control room showing the right zone', severity: 'high' },
      { id: 'false_alarms', zh: '无频繁误报，探测器对准良好，周边植被已清理', en: 'No frequent false alarms; detectors aligned; vegetation cleared', severity: 'medium' },
      { id: 'power', zh: '备用电源可正常切换供电', en: 'Backup power takes over', severity: 'high' },
      { id: 'physical', zh: '围栏、探测器外观完好无破损', en: 'Fence and detectors are physically intact', severity: 'medium' },
    ],
  },
];

export function defaultPlan(template: string): DefaultPlan | undefined {
  return DEFAULT_PLANS.find((p) => p.template === template);
}

/** The plan's fields in one language (the other kept as textEn for Chinese plans). */
export function localiseDefault(p: DefaultPlan, locale: 'zh-CN' | 'en') {
  const zh = locale === 'zh-CN';
  return {
    name: zh ? p.name.zh : p.name.en,
    description: zh ? p.description.zh : p.description.en,
    checklist: p.checklist.map((i) => ({ id: i.id, text: zh ? i.zh : i.en, ...(zh ? { textEn: i.en } : {}), severity: i.severity })),
  };
}

/** Local start of the default plans: the first day of the community's current month, 09:00. */
export function defaultStart(localToday: string): string {
  return `${localToday.slice(0, 7)}-01T09:00`;
}
