"""Surface forms of the concepts in each language, for selecting positive sentences and for the
concept-presence check of generated text. Forms are lower-case word beginnings (a trailing space
marks a word end); in scripts written without spaces (zh, ja) they are matched anywhere.
Written for this project from standard vocabulary and the wording of the Bible translations used.
"""
LANGUAGES = ["en", "es", "fr", "de", "pt", "zh", "ja", "ru", "ar", "hi", "sw", "vi", "id"]

_TABLE = """
joy        | joy | gozo,alegr | joie | freude | alegria,gozo | 喜乐,欢喜,喜樂 | 喜び,喜 | радост | فرح | आनन्द,आनंद | furaha | vui mừng,vui | sukacita,gembira
earthquake | earthquake | terremoto | tremblement de terre | erdbeben | terremoto | 地震,地大震动 | 地震 | землетрясени | زلزل,الزلزل | भूकम्प,भूकंप,भुईंडोल | tetemeko | động đất | gempa
love       | love | amor ,amó ,aman | amour,aime | liebe,lieb | amor | 爱,愛 | 愛 | любов,любит,любил | محب,أحب | प्रेम | upendo,penda | yêu | kasih
fear       | fear | temor,miedo,teme | crainte,peur,crai | furcht,fürcht | temor,medo,teme | 惧怕,敬畏,害怕 | 恐れ,恐 | страх,боя | خوف,خاف,مخاف | भय,डर | hofu,ogop | sợ | takut
water      | water | agua | eau | wasser | água | 水 | 水 | вод | ماء,مياه | जल,पानी | maji | nước | air 
fire       | fire | fuego | feu | feuer | fogo | 火 | 火 | огн,огон | نار,النار | आग | moto | lửa | api 
bread      | bread | pan ,panes | pain | brot | pão,pães | 饼,粮 | パン | хлеб | خبز | रोटी,रोटियों | mkate,mikate | bánh | roti
sea        | sea | mar ,mares | mer ,mers | meer | mar ,mares | 海 | 海 | мор | بحر,البحر | समुद्र | bahari | biển | laut
mountain   | mountain | monte | montagne | berg | monte | 山 | 山 | гора,горы,гору,горах | جبل,الجبل,جبال | पहाड़,पर्वत | mlima,milima | núi | gunung
tree       | tree | árbol | arbre | baum,bäum | árvore | 树,樹 | 木 | дерев | شجر,الشجر | वृक्ष,पेड़ | mti ,miti | cây | pohon
gold       | gold | oro | d'or,l'or | gold | ouro | 金 | 金 | золот | ذهب,الذهب | सोना,सोने | dhahabu | vàng | emas
blood      | blood | sangre | sang | blut | sangue | 血 | 血 | кров | الدم,دمه,دماء,دم  | लोहू,खून,लहू | damu | huyết,máu | darah
wine       | wine | vino | vin | wein | vinho | 酒 | 酒 | вино | خمر,الخمر | दाखमधु,मदिरा | divai | rượu | anggur
sword      | sword | espada | épée | schwert | espada | 刀 | 剣,つるぎ | меч | سيف,السيف | तलवार | upanga | gươm | pedang
death      | death | muerte | mort | tod | morte | 死 | 死 | смерт | موت,الموت | मृत्यु,मौत | mauti,kifo | chết | maut,kematian
light      | light | luz | lumière | licht | luz | 光 | 光 | свет | نور,النور | ज्योति,उजियाला,प्रकाश | nuru,mwanga | sáng | terang
darkness   | darkness | tinieblas,oscur | ténèbres | finsternis,dunkel | trevas | 黑暗 | 暗 | тьм | ظلم,الظلم | अन्धकार,अंधकार,अंधियारा | giza | tối tăm,sự tối | gelap,kegelapan
star       | star | estrella | étoile | stern | estrela | 星 | 星 | звезд | نجم,كواكب | तारा,तारे | nyota | sao | bintang
wind       | wind | viento | vent | wind | vento | 风,風 | 風 | ветр,ветер | ريح,رياح | आन्धी,आंधी,हवा,पवन | upepo,pepo | gió | angin
rain       | rain | lluvia | pluie | regen | chuva | 雨 | 雨 | дожд | مطر,المطر | वर्षा,मेंह | mvua | mưa | hujan
stone      | stone | piedra | pierre | stein | pedra | 石 | 石 | камен,камн | حجر,حجار | पत्थर | jiwe,mawe | đá | batu
sheep      | sheep | oveja | brebis,mouton | schaf | ovelha | 羊 | 羊 | овц,овец | غنم,خراف | भेड़ | kondoo | chiên,cừu | domba
horse      | horse | caballo | cheval,chevaux | ross,pferd | cavalo | 马,馬 | 馬 | конь,коня,кони,коней | خيل,فرس | घोड़ | farasi | ngựa | kuda
ship       | ship | nave,barco | navire,vaisseau | schiff | navio,barco | 船 | 船 | корабл | سفين,سفن | जहाज | merikebu,meli ,chombo | tàu,thuyền | kapal
bird       | bird,fowl | aves | oiseau | vogel,vögel | aves | 鸟,雀 | 鳥 | птиц | طير,طيور | पक्षी,चिड़िया | ndege | chim | burung
fish       | fish | pez,peces | poisson | fisch | peixe | 鱼,魚 | 魚 | рыб | سمك | मछली,मछलि | samaki | cá  | ikan
silver     | silver | plata | argent | silber | prata | 银,銀 | 銀 | серебр | فضة,الفضة | चान्दी,चांदी | fedha | bạc | perak
river      | river | río | fleuve,rivière | fluss,strom,ström | rio | 河 | 川,河 | рек | نهر,أنهار | नदी,नदियों | mto ,mito | sông | sungai
cloud      | cloud | nube | nuée,nuage | wolke | nuvem | 云,雲 | 雲 | облак | سحاب,غمام | बादल | wingu,mawingu | mây | awan
famine     | famine | hambre | famine | hunger,teuerung | fome | 饥荒 | 飢饉,ききん | голод | جوع | अकाल | njaa | đói kém | kelaparan
peace      | peace | paz | paix | friede | paz | 平安 | 平安 | мир  | سلام | शान्ति,शांति | amani | bình an | damai,sejahtera
night      | night | noche | nuit | nacht | noite | 夜 | 夜 | ноч | ليل | रात | usiku | đêm | malam
"""

LEXICON = {}
for row in _TABLE.strip().splitlines():
    cells = [c.strip(" ") for c in row.split("|")]
    concept, forms = cells[0].strip(), cells[1:]
    assert len(forms) == len(LANGUAGES), (concept, len(forms))
    LEXICON[concept] = {lang: [f.lower().lstrip() for f in cell.split(",") if f.strip()] for lang, cell in zip(LANGUAGES, forms)}

UNSPACED = {"zh", "ja"}


def mentions(text: str, forms: list[str], lang: str) -> bool:
    """Whether `text` contains a form: anywhere in unspaced scripts, else at a word beginning."""
    t = " " + text.lower().replace("\n", " ") + " "
    for f in forms:
        if lang in UNSPACED:
            if f in t:
                return True
            continue
        start = 0
        while True:
            i = t.find(f, start)
            if i < 0:
                break
            if not t[i - 1].isalpha():
                return True
            start = i + 1
    return False
