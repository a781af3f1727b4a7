// The project's reaction table (api.md Appendix A): each of the 477 names the server accepts,
// drawn as a system emoji glyph, grouped in categories with the most common first. The names are
// the contract; the glyph choice is ours (where Unicode has no exact picture, the nearest one).

const TABLE = [
  ['Frequent', 'thumbsup:👍 heart:❤️ laugh:😆 tada:🎉 eyes:👀 check:✅ fire:🔥 pray:🙏 clap:👏 rofl:🤣 thinking:🤔 hundred:💯 rocket:🚀 ok:👌 wave:👋 thumbsdown:👎 sad:😞 wow:😮'],
  ['Smileys', 'grinning:😀 smile:😄 sweat_smile:😅 slightly_smile:🙂 upside_down:🙃 melting:🫠 wink:😉 innocent:😇 heart_eyes:😍 star_struck:🤩 partying:🥳 smirk:😏 relieved:😌 pensive:😔 sleepy:😪 drooling:🤤 sleeping:😴 mask:😷 nauseated:🤢 sneezing:🤧 hot_face:🥵 cold_face:🥶 woozy:🥴 mind_blown:🤯 cowboy:🤠 sunglasses:😎 nerd:🤓 monocle:🧐 confounded:😖 worried:😟 astonished:😲 flushed:😳 pleading:🥺 holding_back_tears:🥹 anguished:😧 crying:😢 scream:😱 persevere:😣 yawn:🥱 triumph:😤 rage:😡 angry:😠 devil:😈 skull:💀 poop:💩 clown:🤡 ghost:👻 alien:👽 robot:🤖 shushing:🤫 hand_over_mouth:🤭 lying:🤥 no_mouth:😶 neutral:😐 expressionless:😑 grimace:😬 rolling_eyes:🙄 hushed:😯 hugging:🤗 money_mouth:🤑 raised_eyebrow:🤨 diagonal_mouth:🫤 dotted_face:🫥 peeking:🫣 shaking_face:🫨 exhaling:😮‍💨 zipper:🤐 tongue:😛 zombie:🧟 vampire:🧛 see_no_evil:🙈 hear_no_evil:🙉 speak_no_evil:🙊'],
  ['Hands and people', 'raised_hands:🙌 peace:✌️ cross_fingers:🤞 love_you:🤟 call_me:🤙 point_left:👈 point_right:👉 backhand_up:👆 point_up:☝️ point_down:👇 point_at_you:🫵 middle_finger:🖕 raised_back:🤚 splayed_hand:🖐️ vulcan:🖖 fist:✊ left_fist:🤛 right_fist:🤜 open_hands:👐 palm_up:🫴 palm_down:🫳 heart_hands:🫶 handshake:🤝 pinch:🤏 muscle:💪 writing:✍️ salute:🫡 brain:🧠 climbing:🧗 swim:🏊 surf:🏄 weightlifting:🏋️ yoga:🧘 diving:🤿'],
  ['Hearts', 'heart_orange:🧡 heart_yellow:💛 heart_green:💚 heart_blue:💙 heart_purple:💜 heart_black:🖤 heart_white:🤍 heart_brown:🤎 heart_pink:🩷 broken_heart:💔 heart_on_fire:❤️‍🔥 mending_heart:❤️‍🩹 two_hearts:💕 revolving_hearts:💞 sparkling_heart:💖 heart_grow:💗 heart_box:💟'],
  ['Animals', 'dog:🐶 cat:🐱 mouse:🐭 hamster:🐹 rabbit:🐰 fox:🦊 bear:🐻 panda:🐼 koala:🐨 lion:🦁 cow:🐮 pig:🐷 frog:🐸 monkey:🐒 gorilla:🦍 chipmunk:🐿️ hedgehog:🦔 bat:🦇 wolf:🐺 raccoon:🦝 horse:🐴 unicorn:🦄 zebra:🦓 deer:🦌 goat:🐐 sheep:🐑 camel:🐫 llama:🦙 giraffe:🦒 elephant:🐘 mammoth:🦣 rhino:🦏 hippo:🦛 kangaroo:🦘 sloth:🦥 otter:🦦 skunk:🦨 rooster:🐓 penguin:🐧 dove:🕊️ eagle:🦅 duck:🦆 swan:🦢 owl:🦉 flamingo:🦩 peacock:🦚 parrot:🦜 crocodile:🐊 turtle:🐢 snake:🐍 dragon:🐉 dinosaur:🦕 axolotl:🦎 whale:🐳 dolphin:🐬 seal:🦭 fish:🐟 tropical_fish:🐠 shark:🦈 octopus:🐙 jellyfish:🪼 crab:🦀 lobster:🦞 shrimp:🦐 squid:🦑 oyster:🦪 snail:🐌 butterfly:🦋 bug:🐛 bee:🐝 worm:🪱 microbe:🦠'],
  ['Nature', 'cactus:🌵 christmas_tree:🎄 evergreen:🌲 deciduous:🌳 palm_tree:🌴 seedling:🌱 herb:🌿 four_leaf:🍀 maple_leaf:🍁 leaves:🍃 mushroom:🍄 flower:🌼 bouquet:💐 rose:🌹 wilted_flower:🥀 tulip:🌷 sunflower:🌻 lotus:🪷 cherry_blossom:🌸 sun:☀️ moon:🌙 star:⭐ comet:☄️ cloud:☁️ rainbow:🌈 lightning:🌩️ zap:⚡ snowflake:❄️ snowman:⛄ droplet:💧 water_wave:🌊 tornado:🌪️ fog:🌫️ cyclone:🌀 umbrella:☂️ earth:🌍 globe:🌐 saturn:🪐 milky_way:🌌 volcano:🌋 mountain:⛰️ island:🏝️ desert:🏜️ ice:🧊'],
  ['Food and drink', 'apple:🍎 pear:🍐 tangerine:🍊 lemon:🍋 banana:🍌 watermelon:🍉 grapes:🍇 strawberry:🍓 blueberries:🫐 melon:🍈 cherry:🍒 peach:🍑 mango:🥭 pineapple:🍍 kiwi:🥝 avocado:🥑 tomato:🍅 broccoli:🥦 carrot:🥕 corn:🌽 hot_pepper:🌶️ garlic:🧄 onion:🧅 chestnut:🌰 beans:🫘 bread:🍞 croissant:🥐 bagel:🥯 pretzel:🥨 pancakes:🥞 waffle:🧇 cheese:🧀 bacon:🥓 egg:🥚 burger:🍔 fries:🍟 pizza:🍕 hot_dog:🌭 sandwich:🥪 taco:🌮 wrap:🌯 tamale:🫔 flatbread:🫓 salad:🥗 spaghetti:🍝 ramen:🍜 curry:🍛 sushi:🍣 bento:🍱 dumpling:🥟 fortune_cookie:🥠 soup:🍲 popcorn:🍿 salt:🧂 donut:🍩 cake:🎂 chocolate:🍫 candy:🍬 lollipop:🍭 honey:🍯 ice_cream:🍦 milk:🥛 coffee:☕ tea:🍵 bubble_tea:🧋 mate:🧉 juice:🧃 beer:🍺 champagne:🍾 cocktail:🍸'],
  ['Activities', 'party:🎊 balloon:🎈 gift:🎁 ribbon:🎀 fireworks:🎆 sparkler:🎇 firecracker:🧨 jack_o_lantern:🎃 trophy:🏆 medal:🏅 soccer:⚽ basketball:🏀 football:🏈 baseball:⚾ softball:🥎 tennis:🎾 rugby:🏉 flying_disc:🥏 ping_pong:🏓 badminton:🏸 lacrosse:🥍 golf:⛳ archery:🏹 fishing:🎣 boxing:🥊 martial_arts:🥋 ice_skate:⛸️ ski:🎿 sled:🛷 skateboard:🛹 kite:🪁 yo_yo:🪀 gaming:🎮 joystick:🕹️ die:🎲 chess:♟️ dart:🎯 target:🎯 cards:🃏 ticket:🎫 clapper_board:🎬 palette:🎨 thread:🧵 yarn:🧶 music:🎵 notes:🎶 microphone:🎤 headphones:🎧 saxophone:🎷 accordion:🪗 guitar:🎸 piano:🎹 trumpet:🎺 violin:🎻 banjo:🪕 drum:🥁 long_drum:🪘 teddy_bear:🧸 crystal_ball:🔮 magic_wand:🪄 nazar:🧿'],
  ['Travel', 'car:🚗 bus:🚌 ambulance:🚑 fire_truck:🚒 race_car:🏎️ truck:🚚 tractor:🚜 motorcycle:🏍️ motor_scooter:🛵 bicycle:🚲 train:🚆 airplane:✈️ helicopter:🚁 ufo:🛸 satellite:🛰️ parachute:🪂 sailboat:⛵ canoe:🛶 speedboat:🚤 ship:🚢 map:🗺️ compass:🧭'],
  ['Objects', 'phone:📱 laptop:💻 floppy:💾 cd:💿 camera:📷 bulb:💡 candle:🕯️ battery:🔋 book:📖 newspaper:📰 pencil:✏️ scissors:✂️ key:🔑 lock:🔒 hammer:🔨 axe:🪓 wrench:🔧 gear:⚙️ toolbox:🧰 magnet:🧲 ladder:🪜 test_tube:🧪 test_flask:⚗️ dna:🧬 microscope:🔬 telescope:🔭 stethoscope:🩺 syringe:💉 pill:💊 bandage:🩹 broom:🧹 soap:🧼 safety_pin:🧷 package:📦 money:💰 gem:💎 bell:🔔 hourglass:⏳ chart:📈 magnify:🔍 trash:🗑️ chair:🪑 mirror:🪞 shield:🛡️ gun:🔫 bomb:💣 fire_extinguisher:🧯 pin:📌 boomerang:🪃 crown:👑 flag:🚩 rainbow_flag:🏳️‍🌈'],
  ['Symbols', 'no:🚫 warning:⚠️ recycle:♻️ infinity:♾️ atom:⚛️ sparkle:✨ dizzy:💫 anger:💢 red_circle:🔴 green_circle:🟢 blue_circle:🔵 speech_bubble:💬 thought_bubble:💭 zzz:💤'],
];

/** [{name, emojis: [[name, glyph], …]}] in display order. */
export const CATEGORIES = TABLE.map(([name, list]) => ({
  name,
  emojis: list.split(' ').map((pair) => {
    const at = pair.indexOf(':');
    return [pair.slice(0, at), pair.slice(at + 1)];
  }),
}));

/** name → glyph for all 477 names. */
export const EMOJI = Object.fromEntries(CATEGORIES.flatMap((c) => c.emojis));

/** Human label of a name: "heart_on_fire" → "heart on fire". */
export function label(name) {
  return name.replace(/_/g, ' ');
}

/** Names matching a search, in display order: by name or label, prefix matches first. */
export function searchEmoji(term) {
  const all = CATEGORIES.flatMap((c) => c.emojis.map(([n]) => n));
  const q = term.trim().toLowerCase().replace(/\s+/g, '_');
  if (!q) return all;
  const starts = [];
  const contains = [];
  for (const n of all) {
    if (n.startsWith(q) || n.split('_').some((w) => w.startsWith(q))) starts.push(n);
    else if (n.includes(q) || label(n).includes(term.trim().toLowerCase())) contains.push(n);
  }
  return [...starts, ...contains];
}
