import Foundation
import GRDB
import Testing
@testable import KnowLMKnowledge

/// Two tiny graphs of domains the retriever was not written for: films (relations without
/// labels, read from their local names) and rivers (labelled relations).
enum TinyGraphs {
    static let label = "<http://www.w3.org/2000/01/rdf-schema#label>"
    static let type = "<http://www.w3.org/1999/02/22-rdf-syntax-ns#type>"
    static let int = "^^<http://www.w3.org/2001/XMLSchema#integer>"

    static let films = """
    <http://f.example/Film> \(label) "film"@en .
    <http://f.example/Person> \(label) "person"@en .
    <http://f.example/rel/releaseYear> \(label) "release year"@en .
    <http://f.example/rel/runtime> \(label) "running time"@en .
    <http://f.example/Inception> \(label) "Inception"@en .
    <http://f.example/Inception> \(type) <http://f.example/Film> .
    <http://f.example/Inception> <http://f.example/rel/directed_by> <http://f.example/Nolan> .
    <http://f.example/Inception> <http://f.example/rel/releaseYear> "2010"\(int) .
    <http://f.example/Inception> <http://f.example/rel/runtime> "148"\(int) .
    <http://f.example/Inception> <http://f.example/rel/genre> <http://f.example/SciFi> .
    <http://f.example/Interstellar> \(label) "Interstellar"@en .
    <http://f.example/Interstellar> \(type) <http://f.example/Film> .
    <http://f.example/Interstellar> <http://f.example/rel/directed_by> <http://f.example/Nolan> .
    <http://f.example/Interstellar> <http://f.example/rel/releaseYear> "2014"\(int) .
    <http://f.example/Interstellar> <http://f.example/rel/runtime> "169"\(int) .
    <http://f.example/Interstellar> <http://f.example/rel/genre> <http://f.example/SciFi> .
    <http://f.example/Dunkirk> \(label) "Dunkirk"@en .
    <http://f.example/Dunkirk> \(type) <http://f.example/Film> .
    <http://f.example/Dunkirk> <http://f.example/rel/directed_by> <http://f.example/Nolan> .
    <http://f.example/Dunkirk> <http://f.example/rel/releaseYear> "2017"\(int) .
    <http://f.example/Dunkirk> <http://f.example/rel/runtime> "106"\(int) .
    <http://f.example/Jaws> \(label) "Jaws"@en .
    <http://f.example/Jaws> \(type) <http://f.example/Film> .
    <http://f.example/Jaws> <http://f.example/rel/directed_by> <http://f.example/Spielberg> .
    <http://f.example/Jaws> <http://f.example/rel/releaseYear> "1975"\(int) .
    <http://f.example/Jaws> <http://f.example/rel/runtime> "124"\(int) .
    <http://f.example/Jaws> <http://f.example/rel/genre> <http://f.example/Thriller> .
    <http://f.example/Nolan> \(label) "Christopher Nolan"@en .
    <http://f.example/Nolan> \(type) <http://f.example/Person> .
    <http://f.example/Nolan> <http://f.example/rel/birthPlace> <http://f.example/London> .
    <http://f.example/Spielberg> \(label) "Steven Spielberg"@en .
    <http://f.example/Spielberg> \(type) <http://f.example/Person> .
    <http://f.example/Spielberg> <http://f.example/rel/birthPlace> <http://f.example/Cincinnati> .
    <http://f.example/London> \(label) "London"@en .
    <http://f.example/Cincinnati> \(label) "Cincinnati"@en .
    <http://f.example/SciFi> \(label) "science fiction"@en .
    <http://f.example/Thriller> \(label) "thriller"@en .

    """

    static let rivers = """
    <http://r.example/flowsThrough> \(label) "flows through"@en .
    <http://r.example/length> \(label) "length (km)"@en .
    <http://r.example/mouth> \(label) "mouth"@en .
    <http://r.example/Danube> \(label) "Danube"@en .
    <http://r.example/Danube> <http://r.example/flowsThrough> <http://r.example/Austria> .
    <http://r.example/Danube> <http://r.example/flowsThrough> <http://r.example/Hungary> .
    <http://r.example/Danube> <http://r.example/length> "2850"\(int) .
    <http://r.example/Danube> <http://r.example/mouth> <http://r.example/BlackSea> .
    <http://r.example/Rhine> \(label) "Rhine"@en .
    <http://r.example/Rhine> <http://r.example/flowsThrough> <http://r.example/Switzerland> .
    <http://r.example/Rhine> <http://r.example/flowsThrough> <http://r.example/Germany> .
    <http://r.example/Rhine> <http://r.example/length> "1233"\(int) .
    <http://r.example/Rhine> <http://r.example/mouth> <http://r.example/NorthSea> .
    <http://r.example/Inn> \(label) "Inn"@en .
    <http://r.example/Inn> <http://r.example/flowsThrough> <http://r.example/Switzerland> .
    <http://r.example/Inn> <http://r.example/flowsThrough> <http://r.example/Austria> .
    <http://r.example/Inn> <http://r.example/length> "518"\(int) .
    <http://r.example/Austria> \(label) "Austria"@en .
    <http://r.example/Hungary> \(label) "Hungary"@en .
    <http://r.example/Switzerland> \(label) "Switzerland"@en .
    <http://r.example/Germany> \(label) "Germany"@en .
    <http://r.example/BlackSea> \(label) "Black Sea"@en .
    <http://r.example/NorthSea> \(label) "North Sea"@en .

    """

    static func knowledgeBase(_ text: String, in scratch: ScratchKnowledgeBase, name: String) throws -> KnowledgeBase {
        _ = try scratch.kb.importTriples(from: try scratch.write(name, text))
        return scratch.kb
    }
}

struct QuestionAnalysisTests {
    @Test func readsCountsComparisonsAndWhatIsAsked() {
        #expect(QuestionAnalysis("How many films did Christopher Nolan direct?").asksCount)
        #expect(!QuestionAnalysis("What is the running time of Jaws?").asksCount)
        #expect(QuestionAnalysis("Which is longer, the Danube or the Rhine?").direction == .largest)
        #expect(QuestionAnalysis("which was released earlier, jaws or dunkirk?").direction == .smallest)
        let oldest = QuestionAnalysis("Which film is the oldest?")
        #expect(oldest.isSuperlative && oldest.agesAreInverted)
        #expect(QuestionAnalysis("Who directed Jaws?").answerType == .person)
        #expect(QuestionAnalysis("When was Jaws released?").answerType == .time)
        #expect(QuestionAnalysis("Where was Steven Spielberg born?").answerType == .place)
        #expect(QuestionAnalysis("哪个城市人口更多？").direction == .largest)
        #expect(QuestionAnalysis("Jaws's director").words.map(\.text) == ["jaws", "director"])
    }

    @Test func wordStemsMatchAcrossEndings() {
        #expect(WordStem.related("discovered", "discovery"))
        #expect(WordStem.related("director", "directed"))
        #expect(WordStem.related("denser", "density"))
        #expect(WordStem.related("countries", "country"))
        #expect(!WordStem.related("continent", "contains"))
        #expect(WordStem.related("born", "birth"))  // irregular forms
        #expect(!WordStem.related("born", "border"))
    }

    @Test func relationLocalNamesBecomeReadable() {
        #expect(RelationCatalog.readable(localName: "http://f.example/rel/directed_by") == "directed by")
        #expect(RelationCatalog.readable(localName: "http://dbpedia.org/ontology/birthPlace") == "birth place")
        #expect(RelationCatalog.readable(localName: "http://x.org/onto#releaseYear") == "release year")
    }
}

struct EntityLinkingTests {
    @Test func linksLowerCaseQuestionsAndLongestNames() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        try kb.pool.read { db in
            let catalog = try RelationCatalog(db, kb: kb)
            let linker = EntityLinker(kb: kb)
            let q = QuestionAnalysis("which films did christopher nolan direct?")
            let mentions = try linker.link(db, q, relationNames: catalog.allNames)
            let topics = mentions.filter { !$0.isClass }
            #expect(topics.first?.entity.label == "Christopher Nolan")
            // "films" is the class, kept apart from the topic entities.
            #expect(mentions.contains { $0.isClass && $0.entity.label == "film" } == false)  // "films" ≠ "film" exactly
            let classQuestion = try linker.link(db, QuestionAnalysis("Which film has the longest running time?"), relationNames: catalog.allNames)
            #expect(classQuestion.contains { $0.isClass && $0.entity.label == "film" })
            #expect(!classQuestion.contains { !$0.isClass })
        }
    }

    @Test func linksEntitiesOfASecondDomain() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.rivers, in: scratch, name: "rivers.nt")
        try kb.pool.read { db in
            let mentions = try EntityLinker(kb: kb).link(db, QuestionAnalysis("into which sea does the danube flow?"))
            #expect(mentions.first?.entity.label == "Danube")
            let two = try EntityLinker(kb: kb).link(db, QuestionAnalysis("Which rivers flow through Austria and Black Sea?"))
            #expect(Set(two.map(\.entity.label)) == ["Austria", "Black Sea"])
        }
    }
}

struct RelationLinkingTests {
    func top(_ question: String, _ kb: KnowledgeBase) throws -> String {
        try kb.pool.read { db in
            let catalog = try RelationCatalog(db, kb: kb)
            let q = QuestionAnalysis(question)
            let spans = try EntityLinker(kb: kb).link(db, q, relationNames: catalog.allNames).map(\.span)
            let matches = try RelationLinker(catalog: catalog, embedder: nil).match(q, excluding: spans)
            let best = matches.values.max { $0.score < $1.score }
            return best.flatMap { catalog[$0.relation]?.display } ?? ""
        }
    }

    @Test func findsRelationsByLabelsAndReadableNames() throws {
        let scratch = try ScratchKnowledgeBase()
        let films = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        #expect(try top("Who directed Jaws?", films) == "directed by")
        #expect(try top("what is the birth place of steven spielberg?", films) == "birth place")
        #expect(try top("When was Jaws released?", films) == "release year")
        #expect(try top("What is the running time of Inception?", films) == "running time")
        let other = try ScratchKnowledgeBase()
        let rivers = try TinyGraphs.knowledgeBase(TinyGraphs.rivers, in: other, name: "rivers.nt")
        #expect(try top("Which countries does the Rhine flow through?", rivers) == "flows through")
        #expect(try top("What is the length of the Inn?", rivers) == "length (km)")
    }
}

struct GraphReasoningTests {
    func context(_ question: String, _ kb: KnowledgeBase) throws -> KnowledgeContext {
        let retriever = Retriever(kb: kb, embedder: nil)
        retriever.maxPassages = 0
        return try retriever.retrieve(question)
    }

    @Test func answersInverseListCountAndChainQuestions() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        let list = try context("which films did christopher nolan direct?", kb)
        #expect(list.graphSupports)
        #expect(Set(list.facts[0].answerText.components(separatedBy: ", ")) == ["Inception", "Interstellar", "Dunkirk"])
        let count = try context("How many films did Christopher Nolan direct?", kb)
        #expect(count.computed == .init(kind: "count", answer: "3"))
        let chain = try context("What is the birth place of the director of Jaws?", kb)
        #expect(chain.facts.first?.answerText == "Cincinnati")
        #expect(chain.facts.first?.text == "Jaws | directed by | Steven Spielberg | birth place | Cincinnati")
        let forward = try context("Who directed Inception?", kb)
        #expect(forward.facts.first?.answerText == "Christopher Nolan")
    }

    @Test func computesComparisonsAndSuperlatives() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        #expect(try context("Which has the longer running time, Inception or Interstellar?", kb).computed?.answer == "Interstellar")
        #expect(try context("which was released earlier, jaws or dunkirk?", kb).computed?.answer == "Jaws")
        #expect(try context("Which film directed by Christopher Nolan has the longest running time?", kb).computed?.answer == "Interstellar")
        #expect(try context("Which film has the earliest release year?", kb).computed?.answer == "Jaws")
        // A relation of the winner; a class named by the head of its label ("elements").
        #expect(try context("Who directed the film with the longest running time?", kb).computed?.answer == "Christopher Nolan")
        #expect(try context("which of the films has the shortest running time?", kb).computed?.answer == "Dunkirk")
        let other = try ScratchKnowledgeBase()
        let rivers = try TinyGraphs.knowledgeBase(TinyGraphs.rivers, in: other, name: "rivers.nt")
        // "longer" is not the relation's name: the one numeric relation both rivers have.
        #expect(try context("Which is longer, the Inn or the Rhine?", rivers).computed?.answer == "Rhine")
        #expect(try context("How many countries does the Danube flow through?", rivers).computed?.answer == "2")
        let inverse = try context("Which rivers flow through Switzerland?", rivers)
        #expect(Set(inverse.facts[0].answerText.components(separatedBy: ", ")) == ["Rhine", "Inn"])
    }

    @Test func saysWhenTheGraphHasNothingOnTheQuestion() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        #expect(!(try context("Who composed the music of Inception?", kb).graphSupports))
        #expect(!(try context("Who directed Titanic?", kb).graphSupports))
        #expect(!(try context("What is the capital of France?", kb).graphSupports))
    }

    @Test func examplesComeFromTheKnowledgeBase() throws {
        let scratch = try ScratchKnowledgeBase()
        let kb = try TinyGraphs.knowledgeBase(TinyGraphs.films, in: scratch, name: "films.nt")
        let examples = try Retriever(kb: kb, embedder: nil).examples(language: "en", prompts: try PromptLibrary())
        #expect(examples.count == 2)
        let text = examples.flatMap { $0.facts.map(\.text) + [$0.question] }.joined(separator: "\n")
        #expect(text.contains("Inception") && !text.contains("Peru"))
        #expect(examples[1].facts[0].text.split(separator: "|").count == 5)  // a two-step fact
    }
}

struct ReplacingImportTests {
    @Test func aNewVersionOfAFileReplacesWhatOnlyTheOldOneAdded() throws {
        let scratch = try ScratchKnowledgeBase()
        let alias = "<http://r.example/length> <http://www.w3.org/2004/02/skos/core#altLabel> \"how long\"@en .\n"
        _ = try scratch.kb.importTriples(from: try scratch.write("onto.nt", TinyGraphs.rivers + alias))
        #expect(try scratch.kb.linkEntities("how long").isEmpty == false)
        let report = try scratch.kb.importTriples(from: try scratch.write("onto.nt", TinyGraphs.rivers), replacing: true)
        #expect(report.removed == 1)
        #expect(try scratch.kb.linkEntities("how long").isEmpty)
        #expect(try scratch.kb.statistics().triples == TinyGraphs.rivers.split(separator: "\n").count)
        #expect(try scratch.kb.integrityCheck() == "ok")   // the name went from the full-text index too
    }
}
