// Generated sample data for `conveyor demo`: the seed TradeStat ingestor's HSN codes and
// seven years of made-up export figures per code. Bundled in the binary so the demo needs no files.

enum DemoData {
    /// A key file as a team would write it, with one bad line and one duplicate on purpose.
    static let hsnCodes = """
# HSN codes for the TradeStat export demo: one 8-digit code per line.
# Blank lines and comments are skipped; bad lines are reported with their number.

09011112
09021010
09031001
09041110
09042110
09051000
09O61110
09061110
09071000
09081110
09083110
09091100
09093110
09101110
09103020
09011112
"""

    /// hsn, description, year, country, quantity_kg, value_usd
    static let exports = """
hsn,description,year,country,quantity_kg,value_usd
09011112,"Coffee, not roasted, not decaffeinated",2018,Netherlands,631226,5970015
09011112,"Coffee, not roasted, not decaffeinated",2018,Bangladesh,442046,5039536
09011112,"Coffee, not roasted, not decaffeinated",2018,Germany,575421,6967669
09011112,"Coffee, not roasted, not decaffeinated",2018,Malaysia,815295,9145476
09011112,"Coffee, not roasted, not decaffeinated",2019,Sri Lanka,645039,1914916
09011112,"Coffee, not roasted, not decaffeinated",2019,Malaysia,302193,3566220
09011112,"Coffee, not roasted, not decaffeinated",2019,United Kingdom,472497,1010135
09011112,"Coffee, not roasted, not decaffeinated",2019,United States,719461,5671828
09011112,"Coffee, not roasted, not decaffeinated",2020,Netherlands,365545,5029514
09011112,"Coffee, not roasted, not decaffeinated",2020,United Kingdom,374960,4372645
09011112,"Coffee, not roasted, not decaffeinated",2020,Saudi Arabia,783206,6393350
09011112,"Coffee, not roasted, not decaffeinated",2020,United Arab Emirates,81027,865153
09011112,"Coffee, not roasted, not decaffeinated",2021,Germany,480668,1773982
09011112,"Coffee, not roasted, not decaffeinated",2021,Bangladesh,677116,7074309
09011112,"Coffee, not roasted, not decaffeinated",2021,Japan,606472,3461732
09011112,"Coffee, not roasted, not decaffeinated",2021,United Arab Emirates,889976,9371756
09011112,"Coffee, not roasted, not decaffeinated",2022,Netherlands,419144,5319618
09011112,"Coffee, not roasted, not decaffeinated",2022,Malaysia,582381,4648251
09011112,"Coffee, not roasted, not decaffeinated",2022,Saudi Arabia,123104,874693
09011112,"Coffee, not roasted, not decaffeinated",2022,United States,842533,9269347
09011112,"Coffee, not roasted, not decaffeinated",2023,Sri Lanka,272207,3302886
09011112,"Coffee, not roasted, not decaffeinated",2023,Malaysia,592396,7769153
09011112,"Coffee, not roasted, not decaffeinated",2023,Saudi Arabia,503467,4105971
09011112,"Coffee, not roasted, not decaffeinated",2023,Japan,845285,1947970
09011112,"Coffee, not roasted, not decaffeinated",2024,United Kingdom,549632,6948390
09011112,"Coffee, not roasted, not decaffeinated",2024,United Arab Emirates,108559,1151560
09011112,"Coffee, not roasted, not decaffeinated",2024,United States,451268,3447905
09011112,"Coffee, not roasted, not decaffeinated",2024,Netherlands,506532,6388216
09021010,"Green tea in packets up to 3 kg",2018,Malaysia,422611,4241766
09021010,"Green tea in packets up to 3 kg",2018,Sri Lanka,323570,2775513
09021010,"Green tea in packets up to 3 kg",2018,Japan,679285,5449764
09021010,"Green tea in packets up to 3 kg",2018,Bangladesh,503155,5866149
09021010,"Green tea in packets up to 3 kg",2019,Saudi Arabia,873249,4565722
09021010,"Green tea in packets up to 3 kg",2019,Sri Lanka,35717,135657
09021010,"Green tea in packets up to 3 kg",2019,United Kingdom,627286,8485959
09021010,"Green tea in packets up to 3 kg",2019,United Arab Emirates,843580,6980342
09021010,"Green tea in packets up to 3 kg",2020,Malaysia,727293,5692398
09021010,"Green tea in packets up to 3 kg",2020,Netherlands,537102,6015778
09021010,"Green tea in packets up to 3 kg",2020,United Kingdom,522307,6108647
09021010,"Green tea in packets up to 3 kg",2020,United Arab Emirates,585935,5839879
09021010,"Green tea in packets up to 3 kg",2021,United States,852340,2710857
09021010,"Green tea in packets up to 3 kg",2021,Japan,723818,7671183
09021010,"Green tea in packets up to 3 kg",2021,Netherlands,541198,2763342
09021010,"Green tea in packets up to 3 kg",2021,United Kingdom,192940,2625375
09021010,"Green tea in packets up to 3 kg",2022,Malaysia,389108,1229562
09021010,"Green tea in packets up to 3 kg",2022,Germany,784864,9637853
09021010,"Green tea in packets up to 3 kg",2022,Japan,154468,1141941
09021010,"Green tea in packets up to 3 kg",2022,United Kingdom,15714,48808
09021010,"Green tea in packets up to 3 kg",2023,Malaysia,833328,3654560
09021010,"Green tea in packets up to 3 kg",2023,Bangladesh,127687,1207011
09021010,"Green tea in packets up to 3 kg",2023,Germany,789377,6755001
09021010,"Green tea in packets up to 3 kg",2023,Japan,282580,2831939
09021010,"Green tea in packets up to 3 kg",2024,Netherlands,697864,6278532
09021010,"Green tea in packets up to 3 kg",2024,United Arab Emirates,807908,10595258
09021010,"Green tea in packets up to 3 kg",2024,United States,516887,5312088
09021010,"Green tea in packets up to 3 kg",2024,Bangladesh,142415,1217597
09031001,"Mate",2018,Sri Lanka,822494,9367329
09031001,"Mate",2018,United Arab Emirates,615496,3491125
09031001,"Mate",2018,Japan,433054,2894917
09031001,"Mate",2018,United States,156751,1291686
09031001,"Mate",2018,United Kingdom,207251,1349633
09031001,"Mate",2018,Germany,112289,749211
09031001,"Mate",2018,Malaysia,78000,204087
09031001,"Mate",2019,Netherlands,716961,4046571
09031001,"Mate",2019,Sri Lanka,342880,4446290
09031001,"Mate",2019,United States,522739,6997063
09031001,"Mate",2019,Malaysia,600385,5657591
09031001,"Mate",2019,Japan,180027,692507
09031001,"Mate",2019,United Kingdom,545854,2447515
09031001,"Mate",2019,United Arab Emirates,654622,3951970
09031001,"Mate",2020,Sri Lanka,679670,8874767
09031001,"Mate",2020,United Kingdom,48434,473624
09031001,"Mate",2020,Germany,880734,2270752
09031001,"Mate",2020,Japan,792370,7678249
09031001,"Mate",2020,Bangladesh,508343,5353535
09031001,"Mate",2020,United States,22464,79739
09031001,"Mate",2020,Malaysia,556678,2574458
09031001,"Mate",2021,Bangladesh,447016,3753204
09031001,"Mate",2021,United Arab Emirates,83479,550813
09031001,"Mate",2021,Sri Lanka,197292,1209161
09031001,"Mate",2021,Netherlands,277240,2097870
09031001,"Mate",2021,Germany,819149,9649516
09031001,"Mate",2021,United Kingdom,302644,2303848
09031001,"Mate",2021,Malaysia,342614,2820405
09031001,"Mate",2022,Malaysia,6144,82600
09031001,"Mate",2022,Germany,477172,4651544
09031001,"Mate",2022,Japan,428821,3662440
09031001,"Mate",2022,Saudi Arabia,875045,10670230
09031001,"Mate",2022,United States,703964,2949199
09031001,"Mate",2022,Bangladesh,29505,183621
09031001,"Mate",2022,Sri Lanka,165373,1028689
09031001,"Mate",2023,Sri Lanka,598515,3313619
09031001,"Mate",2023,Bangladesh,282123,2833555
09031001,"Mate",2023,United Kingdom,140060,450638
09031001,"Mate",2023,United States,277522,876183
09031001,"Mate",2023,Japan,458234,1858276
09031001,"Mate",2023,United Arab Emirates,718799,1958808
09031001,"Mate",2023,Germany,374558,3995897
09031001,"Mate",2024,United Arab Emirates,330883,1302583
09031001,"Mate",2024,Germany,269565,742529
09031001,"Mate",2024,Netherlands,432638,5363812
09031001,"Mate",2024,Sri Lanka,815512,4146474
09031001,"Mate",2024,Japan,17179,46172
09031001,"Mate",2024,United States,247651,563587
09031001,"Mate",2024,Saudi Arabia,129996,406424
09041110,"Pepper, light black",2018,Sri Lanka,332416,3089284
09041110,"Pepper, light black",2018,Netherlands,623914,4711822
09041110,"Pepper, light black",2018,Bangladesh,709752,8900885
09041110,"Pepper, light black",2018,Saudi Arabia,720809,4677879
09041110,"Pepper, light black",2018,United Kingdom,526611,5359238
09041110,"Pepper, light black",2018,Japan,264798,1765823
09041110,"Pepper, light black",2018,United States,857493,5381467
09041110,"Pepper, light black",2018,Germany,772109,8170513
09041110,"Pepper, light black",2019,United States,335372,3027494
09041110,"Pepper, light black",2019,Japan,22254,189289
09041110,"Pepper, light black",2019,Netherlands,360120,1573500
09041110,"Pepper, light black",2019,United Arab Emirates,59872,638243
09041110,"Pepper, light black",2019,Malaysia,119067,469777
09041110,"Pepper, light black",2019,Sri Lanka,129644,443304
09041110,"Pepper, light black",2019,Saudi Arabia,132787,1098282
09041110,"Pepper, light black",2019,Germany,626950,6128261
09041110,"Pepper, light black",2020,Japan,396504,1931637
09041110,"Pepper, light black",2020,United States,442435,4402722
09041110,"Pepper, light black",2020,Saudi Arabia,813549,2849452
09041110,"Pepper, light black",2020,Sri Lanka,570300,1335075
09041110,"Pepper, light black",2020,Germany,753108,9953064
09041110,"Pepper, light black",2020,United Arab Emirates,717966,6216708
09041110,"Pepper, light black",2020,United Kingdom,268359,3069828
09041110,"Pepper, light black",2020,Netherlands,240343,548064
09041110,"Pepper, light black",2021,Japan,623487,1916201
09041110,"Pepper, light black",2021,Bangladesh,189012,1632267
09041110,"Pepper, light black",2021,Malaysia,682797,8462255
09041110,"Pepper, light black",2021,United Kingdom,864800,7064171
09041110,"Pepper, light black",2021,United Arab Emirates,279106,1699352
09041110,"Pepper, light black",2021,Netherlands,546730,6043763
09041110,"Pepper, light black",2021,Germany,333920,893259
09041110,"Pepper, light black",2021,Sri Lanka,882487,1885797
09041110,"Pepper, light black",2022,United Kingdom,419459,4398965
09041110,"Pepper, light black",2022,Malaysia,378415,5075301
09041110,"Pepper, light black",2022,United States,244807,2139388
09041110,"Pepper, light black",2022,Germany,290157,1776995
09041110,"Pepper, light black",2022,Netherlands,211742,1375628
09041110,"Pepper, light black",2022,Japan,482577,4654038
09041110,"Pepper, light black",2022,Saudi Arabia,576453,6765973
09041110,"Pepper, light black",2022,United Arab Emirates,827937,8346301
09041110,"Pepper, light black",2023,Japan,372649,4384233
09041110,"Pepper, light black",2023,United Kingdom,876623,7257326
09041110,"Pepper, light black",2023,United Arab Emirates,429161,4954404
09041110,"Pepper, light black",2023,Netherlands,671162,2732215
09041110,"Pepper, light black",2023,Bangladesh,314562,2036325
09041110,"Pepper, light black",2023,Germany,767517,3975874
09041110,"Pepper, light black",2023,Saudi Arabia,750435,8160410
09041110,"Pepper, light black",2023,United States,20243,170061
09041110,"Pepper, light black",2024,Sri Lanka,111018,335989
09041110,"Pepper, light black",2024,Japan,769161,5130720
09041110,"Pepper, light black",2024,United States,575085,2954400
09041110,"Pepper, light black",2024,United Kingdom,44608,483905
09041110,"Pepper, light black",2024,Saudi Arabia,695435,7960592
09041110,"Pepper, light black",2024,Bangladesh,171090,2187718
09041110,"Pepper, light black",2024,Germany,310635,2638528
09041110,"Pepper, light black",2024,United Arab Emirates,375575,1355096
09042110,"Chillies, dried, not crushed",2018,United Kingdom,758051,6211685
09042110,"Chillies, dried, not crushed",2018,United States,189348,1093686
09042110,"Chillies, dried, not crushed",2018,Malaysia,152776,606101
09042110,"Chillies, dried, not crushed",2018,Sri Lanka,123366,1009122
09042110,"Chillies, dried, not crushed",2018,United Arab Emirates,739599,7189536
09042110,"Chillies, dried, not crushed",2018,Japan,3089,37386
09042110,"Chillies, dried, not crushed",2018,Germany,67689,434289
09042110,"Chillies, dried, not crushed",2019,United Kingdom,112431,1553841
09042110,"Chillies, dried, not crushed",2019,Bangladesh,509103,1674298
09042110,"Chillies, dried, not crushed",2019,United Arab Emirates,878841,9420727
09042110,"Chillies, dried, not crushed",2019,Japan,400715,2064024
09042110,"Chillies, dried, not crushed",2019,Saudi Arabia,317140,3098631
09042110,"Chillies, dried, not crushed",2019,Germany,365693,2813119
09042110,"Chillies, dried, not crushed",2019,Netherlands,523976,1808379
09042110,"Chillies, dried, not crushed",2020,Bangladesh,87559,247653
09042110,"Chillies, dried, not crushed",2020,United Kingdom,93135,1089775
09042110,"Chillies, dried, not crushed",2020,Netherlands,816751,4691674
09042110,"Chillies, dried, not crushed",2020,Malaysia,790884,7865578
09042110,"Chillies, dried, not crushed",2020,Sri Lanka,177518,1047360
09042110,"Chillies, dried, not crushed",2020,Japan,531864,4647912
09042110,"Chillies, dried, not crushed",2020,United Arab Emirates,339368,4372847
09042110,"Chillies, dried, not crushed",2021,Malaysia,723637,9433977
09042110,"Chillies, dried, not crushed",2021,Saudi Arabia,796685,9119022
09042110,"Chillies, dried, not crushed",2021,Netherlands,430601,5158364
09042110,"Chillies, dried, not crushed",2021,Germany,619516,4076125
09042110,"Chillies, dried, not crushed",2021,Bangladesh,162877,1189012
09042110,"Chillies, dried, not crushed",2021,United Kingdom,595091,5880746
09042110,"Chillies, dried, not crushed",2021,Sri Lanka,134781,967127
09042110,"Chillies, dried, not crushed",2022,Netherlands,572596,5452557
09042110,"Chillies, dried, not crushed",2022,Germany,246673,1475415
09042110,"Chillies, dried, not crushed",2022,Sri Lanka,151433,1322857
09042110,"Chillies, dried, not crushed",2022,United Arab Emirates,130222,679097
09042110,"Chillies, dried, not crushed",2022,United Kingdom,603289,4522717
09042110,"Chillies, dried, not crushed",2022,Saudi Arabia,421735,2865016
09042110,"Chillies, dried, not crushed",2022,Bangladesh,577438,6119426
09042110,"Chillies, dried, not crushed",2023,Saudi Arabia,446053,2777092
09042110,"Chillies, dried, not crushed",2023,Netherlands,347497,945322
09042110,"Chillies, dried, not crushed",2023,Germany,420182,4493104
09042110,"Chillies, dried, not crushed",2023,Bangladesh,12026,62591
09042110,"Chillies, dried, not crushed",2023,United Kingdom,736777,3703106
09042110,"Chillies, dried, not crushed",2023,Japan,351238,3142672
09042110,"Chillies, dried, not crushed",2023,Malaysia,642426,4481223
09042110,"Chillies, dried, not crushed",2024,Malaysia,693769,8479735
09042110,"Chillies, dried, not crushed",2024,Sri Lanka,282693,1673362
09042110,"Chillies, dried, not crushed",2024,Netherlands,818648,3692667
09042110,"Chillies, dried, not crushed",2024,United States,480342,3928860
09042110,"Chillies, dried, not crushed",2024,Saudi Arabia,654080,6254337
09042110,"Chillies, dried, not crushed",2024,Germany,83824,726685
09042110,"Chillies, dried, not crushed",2024,Bangladesh,197768,1674607
09051000,"Vanilla, neither crushed nor ground",2018,Germany,486977,2179928
09051000,"Vanilla, neither crushed nor ground",2018,United Arab Emirates,706841,2862233
09051000,"Vanilla, neither crushed nor ground",2018,Netherlands,325479,980142
09051000,"Vanilla, neither crushed nor ground",2018,Sri Lanka,438297,4620503
09051000,"Vanilla, neither crushed nor ground",2019,Sri Lanka,30679,161079
09051000,"Vanilla, neither crushed nor ground",2019,Bangladesh,440915,1117167
09051000,"Vanilla, neither crushed nor ground",2019,United Arab Emirates,577960,6248329
09051000,"Vanilla, neither crushed nor ground",2019,United States,243592,3376377
09051000,"Vanilla, neither crushed nor ground",2020,Malaysia,334256,3101653
09051000,"Vanilla, neither crushed nor ground",2020,Netherlands,268753,2112342
09051000,"Vanilla, neither crushed nor ground",2020,Bangladesh,343919,4150252
09051000,"Vanilla, neither crushed nor ground",2020,United Arab Emirates,39498,384045
09051000,"Vanilla, neither crushed nor ground",2021,United Arab Emirates,384975,1942673
09051000,"Vanilla, neither crushed nor ground",2021,United States,792635,6018797
09051000,"Vanilla, neither crushed nor ground",2021,Malaysia,386395,2041563
09051000,"Vanilla, neither crushed nor ground",2021,Saudi Arabia,884160,9536328
09051000,"Vanilla, neither crushed nor ground",2022,Japan,431816,5335174
09051000,"Vanilla, neither crushed nor ground",2022,United Kingdom,762151,8128162
09051000,"Vanilla, neither crushed nor ground",2022,United States,694276,5628865
09051000,"Vanilla, neither crushed nor ground",2022,Saudi Arabia,559127,6256726
09051000,"Vanilla, neither crushed nor ground",2023,Japan,535390,7331333
09051000,"Vanilla, neither crushed nor ground",2023,Malaysia,625773,3692792
09051000,"Vanilla, neither crushed nor ground",2023,Germany,334379,3319279
09051000,"Vanilla, neither crushed nor ground",2023,Saudi Arabia,378570,1580124
09051000,"Vanilla, neither crushed nor ground",2024,Bangladesh,554640,4573842
09051000,"Vanilla, neither crushed nor ground",2024,United Arab Emirates,402424,3849787
09051000,"Vanilla, neither crushed nor ground",2024,Japan,639955,8802343
09051000,"Vanilla, neither crushed nor ground",2024,Saudi Arabia,31278,236640
09061110,"Cinnamon (Cinnamomum zeylanicum)",2018,Saudi Arabia,831138,10252710
09061110,"Cinnamon (Cinnamomum zeylanicum)",2018,Bangladesh,814469,10169209
09061110,"Cinnamon (Cinnamomum zeylanicum)",2018,United Arab Emirates,513317,1868746
09061110,"Cinnamon (Cinnamomum zeylanicum)",2018,Japan,712449,8611378
09061110,"Cinnamon (Cinnamomum zeylanicum)",2018,Germany,342584,2180529
09061110,"Cinnamon (Cinnamomum zeylanicum)",2019,Saudi Arabia,579089,6056004
09061110,"Cinnamon (Cinnamomum zeylanicum)",2019,Bangladesh,161545,1735785
09061110,"Cinnamon (Cinnamomum zeylanicum)",2019,United Kingdom,138632,1603665
09061110,"Cinnamon (Cinnamomum zeylanicum)",2019,Germany,838974,8292237
09061110,"Cinnamon (Cinnamomum zeylanicum)",2019,Japan,65044,755956
09061110,"Cinnamon (Cinnamomum zeylanicum)",2020,United States,146949,765707
09061110,"Cinnamon (Cinnamomum zeylanicum)",2020,Japan,567565,5854662
09061110,"Cinnamon (Cinnamomum zeylanicum)",2020,Bangladesh,135206,1012359
09061110,"Cinnamon (Cinnamomum zeylanicum)",2020,Saudi Arabia,196634,2028431
09061110,"Cinnamon (Cinnamomum zeylanicum)",2020,Germany,788856,3334975
09061110,"Cinnamon (Cinnamomum zeylanicum)",2021,United Arab Emirates,316252,1470963
09061110,"Cinnamon (Cinnamomum zeylanicum)",2021,Saudi Arabia,382846,4845415
09061110,"Cinnamon (Cinnamomum zeylanicum)",2021,Malaysia,97457,739472
09061110,"Cinnamon (Cinnamomum zeylanicum)",2021,Japan,784440,5398164
09061110,"Cinnamon (Cinnamomum zeylanicum)",2021,United States,341266,1278979
09061110,"Cinnamon (Cinnamomum zeylanicum)",2022,Bangladesh,100254,625215
09061110,"Cinnamon (Cinnamomum zeylanicum)",2022,United States,885829,9261969
09061110,"Cinnamon (Cinnamomum zeylanicum)",2022,Malaysia,853970,10079307
09061110,"Cinnamon (Cinnamomum zeylanicum)",2022,Sri Lanka,345742,3831196
09061110,"Cinnamon (Cinnamomum zeylanicum)",2022,Saudi Arabia,172767,1388901
09061110,"Cinnamon (Cinnamomum zeylanicum)",2023,Germany,253833,1191958
09061110,"Cinnamon (Cinnamomum zeylanicum)",2023,Saudi Arabia,519581,2365425
09061110,"Cinnamon (Cinnamomum zeylanicum)",2023,Bangladesh,167213,1409662
09061110,"Cinnamon (Cinnamomum zeylanicum)",2023,Sri Lanka,443470,4724425
09061110,"Cinnamon (Cinnamomum zeylanicum)",2023,Malaysia,482701,5924678
09061110,"Cinnamon (Cinnamomum zeylanicum)",2024,United Kingdom,506210,1569839
09061110,"Cinnamon (Cinnamomum zeylanicum)",2024,Japan,222305,2416151
09061110,"Cinnamon (Cinnamomum zeylanicum)",2024,Malaysia,122480,1356176
09061110,"Cinnamon (Cinnamomum zeylanicum)",2024,Bangladesh,372128,3936249
09061110,"Cinnamon (Cinnamomum zeylanicum)",2024,Saudi Arabia,653408,6700653
09071000,"Cloves, neither crushed nor ground",2018,United Arab Emirates,449682,1063957
09071000,"Cloves, neither crushed nor ground",2018,United Kingdom,152919,1495289
09071000,"Cloves, neither crushed nor ground",2018,Saudi Arabia,666087,7642288
09071000,"Cloves, neither crushed nor ground",2018,Germany,302063,3283301
09071000,"Cloves, neither crushed nor ground",2019,Saudi Arabia,483558,6112579
09071000,"Cloves, neither crushed nor ground",2019,United States,882295,5514516
09071000,"Cloves, neither crushed nor ground",2019,Malaysia,145648,479116
09071000,"Cloves, neither crushed nor ground",2019,Japan,151986,1324673
09071000,"Cloves, neither crushed nor ground",2020,Netherlands,664793,6060555
09071000,"Cloves, neither crushed nor ground",2020,Malaysia,733101,7360521
09071000,"Cloves, neither crushed nor ground",2020,Saudi Arabia,343099,3794287
09071000,"Cloves, neither crushed nor ground",2020,Japan,716159,2109757
09071000,"Cloves, neither crushed nor ground",2021,Malaysia,290528,1615654
09071000,"Cloves, neither crushed nor ground",2021,Netherlands,85454,776136
09071000,"Cloves, neither crushed nor ground",2021,Germany,74662,622057
09071000,"Cloves, neither crushed nor ground",2021,Saudi Arabia,475415,4170594
09071000,"Cloves, neither crushed nor ground",2022,Saudi Arabia,24033,92220
09071000,"Cloves, neither crushed nor ground",2022,Malaysia,334880,1209535
09071000,"Cloves, neither crushed nor ground",2022,Bangladesh,111261,745677
09071000,"Cloves, neither crushed nor ground",2022,Japan,177344,1492741
09071000,"Cloves, neither crushed nor ground",2023,Japan,75580,833719
09071000,"Cloves, neither crushed nor ground",2023,United States,547112,1879929
09071000,"Cloves, neither crushed nor ground",2023,Bangladesh,899107,11563396
09071000,"Cloves, neither crushed nor ground",2023,Netherlands,753077,2890907
09071000,"Cloves, neither crushed nor ground",2024,Malaysia,492434,5064910
09071000,"Cloves, neither crushed nor ground",2024,United Kingdom,420470,2043980
09071000,"Cloves, neither crushed nor ground",2024,Netherlands,890649,5122488
09071000,"Cloves, neither crushed nor ground",2024,Sri Lanka,44289,348441
09081110,"Nutmeg, in shell",2018,United Arab Emirates,401156,3126627
09081110,"Nutmeg, in shell",2018,Malaysia,18143,144916
09081110,"Nutmeg, in shell",2018,United Kingdom,230182,1523034
09081110,"Nutmeg, in shell",2018,Saudi Arabia,36695,306566
09081110,"Nutmeg, in shell",2018,United States,823715,3034118
09081110,"Nutmeg, in shell",2018,Japan,253744,3127902
09081110,"Nutmeg, in shell",2018,Bangladesh,330123,1719179
09081110,"Nutmeg, in shell",2018,Sri Lanka,453680,5609114
09081110,"Nutmeg, in shell",2019,Sri Lanka,387386,4520826
09081110,"Nutmeg, in shell",2019,United States,616056,1793813
09081110,"Nutmeg, in shell",2019,Netherlands,179323,1342671
09081110,"Nutmeg, in shell",2019,Japan,847988,2826097
09081110,"Nutmeg, in shell",2019,Saudi Arabia,111790,1303735
09081110,"Nutmeg, in shell",2019,Germany,437119,2977218
09081110,"Nutmeg, in shell",2019,Bangladesh,7051,34774
09081110,"Nutmeg, in shell",2019,United Arab Emirates,54595,281281
09081110,"Nutmeg, in shell",2020,United Arab Emirates,230168,2412099
09081110,"Nutmeg, in shell",2020,Bangladesh,662529,7709774
09081110,"Nutmeg, in shell",2020,Japan,590657,2001306
09081110,"Nutmeg, in shell",2020,Sri Lanka,470128,4041405
09081110,"Nutmeg, in shell",2020,United States,38301,240071
09081110,"Nutmeg, in shell",2020,Saudi Arabia,728569,5539837
09081110,"Nutmeg, in shell",2020,Germany,541529,5180137
09081110,"Nutmeg, in shell",2020,Netherlands,37346,503560
09081110,"Nutmeg, in shell",2021,United Kingdom,215538,449964
09081110,"Nutmeg, in shell",2021,Malaysia,648754,6329387
09081110,"Nutmeg, in shell",2021,United States,495280,6486933
09081110,"Nutmeg, in shell",2021,United Arab Emirates,75775,956836
09081110,"Nutmeg, in shell",2021,Bangladesh,764056,6539051
09081110,"Nutmeg, in shell",2021,Germany,575046,5536711
09081110,"Nutmeg, in shell",2021,Netherlands,613064,5200375
09081110,"Nutmeg, in shell",2021,Japan,520324,6161966
09081110,"Nutmeg, in shell",2022,Bangladesh,33971,74110
09081110,"Nutmeg, in shell",2022,Netherlands,405579,3516605
09081110,"Nutmeg, in shell",2022,United Kingdom,463561,4681233
09081110,"Nutmeg, in shell",2022,Japan,188139,763632
09081110,"Nutmeg, in shell",2022,Malaysia,173584,1511931
09081110,"Nutmeg, in shell",2022,Sri Lanka,530371,5874320
09081110,"Nutmeg, in shell",2022,United States,420252,2247144
09081110,"Nutmeg, in shell",2022,Saudi Arabia,678527,6694984
09081110,"Nutmeg, in shell",2023,Malaysia,728122,2757988
09081110,"Nutmeg, in shell",2023,Germany,838705,4922129
09081110,"Nutmeg, in shell",2023,United States,520021,4472906
09081110,"Nutmeg, in shell",2023,United Arab Emirates,146423,295494
09081110,"Nutmeg, in shell",2023,Sri Lanka,398979,1226890
09081110,"Nutmeg, in shell",2023,Bangladesh,732883,5845640
09081110,"Nutmeg, in shell",2023,Japan,439964,4421644
09081110,"Nutmeg, in shell",2023,United Kingdom,356058,2901065
09081110,"Nutmeg, in shell",2024,Netherlands,257647,3431987
09081110,"Nutmeg, in shell",2024,Germany,624546,6311376
09081110,"Nutmeg, in shell",2024,United States,714190,9945993
09081110,"Nutmeg, in shell",2024,Sri Lanka,189365,1076071
09081110,"Nutmeg, in shell",2024,United Arab Emirates,558056,1186330
09081110,"Nutmeg, in shell",2024,Bangladesh,30939,189056
09081110,"Nutmeg, in shell",2024,Malaysia,773008,3174163
09081110,"Nutmeg, in shell",2024,Japan,481440,4370943
09083110,"Cardamom, large",2018,Malaysia,134351,275113
09083110,"Cardamom, large",2018,United Arab Emirates,554079,3176543
09083110,"Cardamom, large",2018,Sri Lanka,428516,5692138
09083110,"Cardamom, large",2018,United States,22275,163314
09083110,"Cardamom, large",2018,Saudi Arabia,310843,4159331
09083110,"Cardamom, large",2019,Saudi Arabia,101907,481926
09083110,"Cardamom, large",2019,United States,341536,2502127
09083110,"Cardamom, large",2019,Malaysia,72572,881700
09083110,"Cardamom, large",2019,Japan,288007,2092470
09083110,"Cardamom, large",2019,Bangladesh,466574,5008668
09083110,"Cardamom, large",2020,Japan,431379,3293147
09083110,"Cardamom, large",2020,Sri Lanka,329361,3892016
09083110,"Cardamom, large",2020,Malaysia,107599,1005936
09083110,"Cardamom, large",2020,Netherlands,33123,147560
09083110,"Cardamom, large",2020,Bangladesh,734011,4061721
09083110,"Cardamom, large",2021,Saudi Arabia,242012,1602590
09083110,"Cardamom, large",2021,United Kingdom,631773,3805081
09083110,"Cardamom, large",2021,Netherlands,563559,3795725
09083110,"Cardamom, large",2021,Germany,647362,5560154
09083110,"Cardamom, large",2021,United States,570302,4824006
09083110,"Cardamom, large",2022,Saudi Arabia,255348,1048848
09083110,"Cardamom, large",2022,Japan,317695,778154
09083110,"Cardamom, large",2022,Netherlands,652367,7761458
09083110,"Cardamom, large",2022,Sri Lanka,315886,1275550
09083110,"Cardamom, large",2022,United Kingdom,452421,4543063
09083110,"Cardamom, large",2023,United Arab Emirates,714994,1937698
09083110,"Cardamom, large",2023,Malaysia,323046,3506595
09083110,"Cardamom, large",2023,Saudi Arabia,839467,7689110
09083110,"Cardamom, large",2023,Netherlands,354831,3101666
09083110,"Cardamom, large",2023,United Kingdom,878047,6118487
09083110,"Cardamom, large",2024,Bangladesh,872433,11761731
09083110,"Cardamom, large",2024,Sri Lanka,531606,3297051
09083110,"Cardamom, large",2024,Japan,368760,4061839
09083110,"Cardamom, large",2024,Saudi Arabia,552294,2566303
09083110,"Cardamom, large",2024,Netherlands,442742,3678381
09091100,"Coriander seeds, neither crushed nor ground",2018,Sri Lanka,780188,9659009
09091100,"Coriander seeds, neither crushed nor ground",2018,Netherlands,31552,103613
09091100,"Coriander seeds, neither crushed nor ground",2018,United Kingdom,226764,929245
09091100,"Coriander seeds, neither crushed nor ground",2018,Japan,648782,4361871
09091100,"Coriander seeds, neither crushed nor ground",2018,Saudi Arabia,854597,3322287
09091100,"Coriander seeds, neither crushed nor ground",2018,Malaysia,538970,2303624
09091100,"Coriander seeds, neither crushed nor ground",2018,United Arab Emirates,33583,286938
09091100,"Coriander seeds, neither crushed nor ground",2019,Germany,667812,5470136
09091100,"Coriander seeds, neither crushed nor ground",2019,Sri Lanka,657672,2092435
09091100,"Coriander seeds, neither crushed nor ground",2019,United Kingdom,247421,1448489
09091100,"Coriander seeds, neither crushed nor ground",2019,Malaysia,4606,14557
09091100,"Coriander seeds, neither crushed nor ground",2019,United States,70541,785908
09091100,"Coriander seeds, neither crushed nor ground",2019,Saudi Arabia,691883,2634807
09091100,"Coriander seeds, neither crushed nor ground",2019,United Arab Emirates,658813,4589605
09091100,"Coriander seeds, neither crushed nor ground",2020,Germany,91801,565235
09091100,"Coriander seeds, neither crushed nor ground",2020,United Kingdom,157655,1154086
09091100,"Coriander seeds, neither crushed nor ground",2020,Malaysia,897341,11656491
09091100,"Coriander seeds, neither crushed nor ground",2020,United Arab Emirates,578502,6680505
09091100,"Coriander seeds, neither crushed nor ground",2020,Japan,445160,4915922
09091100,"Coriander seeds, neither crushed nor ground",2020,Sri Lanka,138301,427900
09091100,"Coriander seeds, neither crushed nor ground",2020,United States,720063,5447457
09091100,"Coriander seeds, neither crushed nor ground",2021,Germany,784476,2496607
09091100,"Coriander seeds, neither crushed nor ground",2021,Malaysia,50335,346900
09091100,"Coriander seeds, neither crushed nor ground",2021,Bangladesh,449947,4357078
09091100,"Coriander seeds, neither crushed nor ground",2021,United States,269161,2840857
09091100,"Coriander seeds, neither crushed nor ground",2021,United Kingdom,550429,2739419
09091100,"Coriander seeds, neither crushed nor ground",2021,Netherlands,115269,714773
09091100,"Coriander seeds, neither crushed nor ground",2021,United Arab Emirates,178089,379614
09091100,"Coriander seeds, neither crushed nor ground",2022,United Arab Emirates,383619,5060766
09091100,"Coriander seeds, neither crushed nor ground",2022,Japan,80491,557472
09091100,"Coriander seeds, neither crushed nor ground",2022,Bangladesh,665531,1992121
09091100,"Coriander seeds, neither crushed nor ground",2022,Saudi Arabia,806633,7593447
09091100,"Coriander seeds, neither crushed nor ground",2022,United Kingdom,335665,2390971
09091100,"Coriander seeds, neither crushed nor ground",2022,United States,645813,8008721
09091100,"Coriander seeds, neither crushed nor ground",2022,Germany,326871,1571346
09091100,"Coriander seeds, neither crushed nor ground",2023,Sri Lanka,583503,5435431
09091100,"Coriander seeds, neither crushed nor ground",2023,Bangladesh,553956,4166353
09091100,"Coriander seeds, neither crushed nor ground",2023,United Arab Emirates,434490,4719213
09091100,"Coriander seeds, neither crushed nor ground",2023,Japan,274259,1232843
09091100,"Coriander seeds, neither crushed nor ground",2023,United Kingdom,811794,8713724
09091100,"Coriander seeds, neither crushed nor ground",2023,Malaysia,464230,1836387
09091100,"Coriander seeds, neither crushed nor ground",2023,United States,855347,7019419
09091100,"Coriander seeds, neither crushed nor ground",2024,Japan,208710,1922310
09091100,"Coriander seeds, neither crushed nor ground",2024,Sri Lanka,355036,3680331
09091100,"Coriander seeds, neither crushed nor ground",2024,Germany,764368,9977478
09091100,"Coriander seeds, neither crushed nor ground",2024,Saudi Arabia,669825,2326565
09091100,"Coriander seeds, neither crushed nor ground",2024,Bangladesh,353782,2431212
09091100,"Coriander seeds, neither crushed nor ground",2024,Malaysia,445916,4168078
09091100,"Coriander seeds, neither crushed nor ground",2024,United States,639297,4165683
09093110,"Cumin seeds, neither crushed nor ground",2018,Netherlands,341198,3013728
09093110,"Cumin seeds, neither crushed nor ground",2018,Saudi Arabia,376664,818636
09093110,"Cumin seeds, neither crushed nor ground",2018,Malaysia,374525,2485400
09093110,"Cumin seeds, neither crushed nor ground",2018,Japan,368750,4243626
09093110,"Cumin seeds, neither crushed nor ground",2019,Malaysia,489612,1237855
09093110,"Cumin seeds, neither crushed nor ground",2019,United States,25263,312353
09093110,"Cumin seeds, neither crushed nor ground",2019,Netherlands,309240,2623747
09093110,"Cumin seeds, neither crushed nor ground",2019,United Kingdom,572152,6590445
09093110,"Cumin seeds, neither crushed nor ground",2020,Germany,403581,2260210
09093110,"Cumin seeds, neither crushed nor ground",2020,Netherlands,745115,3791423
09093110,"Cumin seeds, neither crushed nor ground",2020,Saudi Arabia,217258,1003601
09093110,"Cumin seeds, neither crushed nor ground",2020,United Arab Emirates,82690,392491
09093110,"Cumin seeds, neither crushed nor ground",2021,United States,709672,6635662
09093110,"Cumin seeds, neither crushed nor ground",2021,Netherlands,542239,5202178
09093110,"Cumin seeds, neither crushed nor ground",2021,Malaysia,58001,317210
09093110,"Cumin seeds, neither crushed nor ground",2021,Sri Lanka,114344,1428168
09093110,"Cumin seeds, neither crushed nor ground",2022,United Kingdom,833820,9600118
09093110,"Cumin seeds, neither crushed nor ground",2022,Germany,618914,7731877
09093110,"Cumin seeds, neither crushed nor ground",2022,Bangladesh,756698,5037904
09093110,"Cumin seeds, neither crushed nor ground",2022,United States,144578,1053930
09093110,"Cumin seeds, neither crushed nor ground",2023,Bangladesh,390028,3385813
09093110,"Cumin seeds, neither crushed nor ground",2023,United States,876179,10097976
09093110,"Cumin seeds, neither crushed nor ground",2023,Japan,200407,2639259
09093110,"Cumin seeds, neither crushed nor ground",2023,United Kingdom,435795,2501276
09093110,"Cumin seeds, neither crushed nor ground",2024,Japan,417490,4421403
09093110,"Cumin seeds, neither crushed nor ground",2024,Bangladesh,72838,541963
09093110,"Cumin seeds, neither crushed nor ground",2024,United Arab Emirates,603024,4191644
09093110,"Cumin seeds, neither crushed nor ground",2024,Sri Lanka,502208,3662648
09101110,"Ginger, fresh",2018,United States,451627,1942139
09101110,"Ginger, fresh",2018,Japan,777329,5864135
09101110,"Ginger, fresh",2018,Germany,652611,2485751
09101110,"Ginger, fresh",2018,Saudi Arabia,337981,1321756
09101110,"Ginger, fresh",2018,Malaysia,841258,8645357
09101110,"Ginger, fresh",2019,United States,81802,516408
09101110,"Ginger, fresh",2019,Germany,79320,974805
09101110,"Ginger, fresh",2019,United Kingdom,11523,73799
09101110,"Ginger, fresh",2019,Malaysia,703571,2189907
09101110,"Ginger, fresh",2019,Saudi Arabia,580295,2684571
09101110,"Ginger, fresh",2020,Netherlands,590574,1969366
09101110,"Ginger, fresh",2020,Japan,570919,1643044
09101110,"Ginger, fresh",2020,Germany,237095,1794287
09101110,"Ginger, fresh",2020,United Arab Emirates,365612,4182038
09101110,"Ginger, fresh",2020,Bangladesh,145370,588698
09101110,"Ginger, fresh",2021,United Kingdom,410306,2058316
09101110,"Ginger, fresh",2021,Bangladesh,679135,5195893
09101110,"Ginger, fresh",2021,Japan,201341,856097
09101110,"Ginger, fresh",2021,Netherlands,187627,2487313
09101110,"Ginger, fresh",2021,United States,497713,1381162
09101110,"Ginger, fresh",2022,Sri Lanka,52606,729587
09101110,"Ginger, fresh",2022,United Arab Emirates,362914,4416677
09101110,"Ginger, fresh",2022,Japan,238325,2532328
09101110,"Ginger, fresh",2022,Saudi Arabia,497758,4789280
09101110,"Ginger, fresh",2022,Malaysia,36686,477132
09101110,"Ginger, fresh",2023,United Arab Emirates,109371,491506
09101110,"Ginger, fresh",2023,Japan,130547,665940
09101110,"Ginger, fresh",2023,Malaysia,711795,8445659
09101110,"Ginger, fresh",2023,United Kingdom,76331,591204
09101110,"Ginger, fresh",2023,Netherlands,298741,1668080
09101110,"Ginger, fresh",2024,United States,95452,1194438
09101110,"Ginger, fresh",2024,Germany,686941,3043719
09101110,"Ginger, fresh",2024,Japan,567466,1212091
09101110,"Ginger, fresh",2024,Saudi Arabia,331476,1466693
09101110,"Ginger, fresh",2024,United Kingdom,657514,7949136
09103020,"Turmeric, dried",2018,Japan,351591,2984073
09103020,"Turmeric, dried",2018,Malaysia,646453,2990853
09103020,"Turmeric, dried",2018,Saudi Arabia,376288,4554413
09103020,"Turmeric, dried",2018,Netherlands,604778,6413946
09103020,"Turmeric, dried",2019,Malaysia,683770,4175811
09103020,"Turmeric, dried",2019,Saudi Arabia,381716,1688035
09103020,"Turmeric, dried",2019,United States,267346,2314695
09103020,"Turmeric, dried",2019,Netherlands,551282,3380925
09103020,"Turmeric, dried",2020,Saudi Arabia,680136,8599108
09103020,"Turmeric, dried",2020,Bangladesh,826438,1859080
09103020,"Turmeric, dried",2020,Germany,489342,6459408
09103020,"Turmeric, dried",2020,Netherlands,55851,542594
09103020,"Turmeric, dried",2021,United States,692555,5316725
09103020,"Turmeric, dried",2021,Malaysia,127132,1343172
09103020,"Turmeric, dried",2021,United Arab Emirates,677802,8367707
09103020,"Turmeric, dried",2021,Saudi Arabia,128586,664863
09103020,"Turmeric, dried",2022,United Kingdom,218688,1167610
09103020,"Turmeric, dried",2022,Saudi Arabia,224744,1690507
09103020,"Turmeric, dried",2022,Sri Lanka,719241,1515776
09103020,"Turmeric, dried",2022,Netherlands,41263,448944
09103020,"Turmeric, dried",2023,Bangladesh,413886,5308615
09103020,"Turmeric, dried",2023,Malaysia,674869,2420893
09103020,"Turmeric, dried",2023,Netherlands,209585,2182633
09103020,"Turmeric, dried",2023,Germany,317202,1317131
09103020,"Turmeric, dried",2024,Saudi Arabia,458298,3975453
09103020,"Turmeric, dried",2024,Japan,211690,650537
09103020,"Turmeric, dried",2024,Sri Lanka,395164,4817883
09103020,"Turmeric, dried",2024,Malaysia,226583,2106124
"""
}
