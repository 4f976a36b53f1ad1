import { useMutation, useQueryClient } from "@tanstack/react-query";
import { lazy, Suspense, useEffect, useRef } from "react";
import { Link, Route, Switch, useLocation } from "wouter";
import { canOperate, signOut, useSession } from "../api/session.ts";
import { EmptyState } from "../components/Notices.tsx";
import { Overview } from "../pages/Overview.tsx";

// The overview is in the first bundle (it is the first page); the others load when first opened, so the first
// load parses less.
const Runs = lazy(() => import("../pages/Runs.tsx").then((module) => ({ default: module.Runs })));
const RunDetailPage = lazy(() =>
  import("../pages/RunDetail.tsx").then((module) => ({ default: module.RunDetailPage })),
);
const Events = lazy(() => import("../pages/Events.tsx").then((module) => ({ default: module.Events })));
const EventDetailPage = lazy(() =>
  import("../pages/EventDetail.tsx").then((module) => ({ default: module.EventDetailPage })),
);
const DeadLetters = lazy(() => import("../pages/DeadLetters.tsx").then((module) => ({ default: module.DeadLetters })));
const Connections = lazy(() => import("../pages/Connections.tsx").then((module) => ({ default: module.Connections })));
const Alerts = lazy(() => import("../pages/Alerts.tsx").then((module) => ({ default: module.Alerts })));
const Reconciliations = lazy(() =>
  import("../pages/Reconciliations.tsx").then((module) => ({ default: module.Reconciliations })),
);
const ReconciliationDetailPage = lazy(() =>
  import("../pages/ReconciliationDetail.tsx").then((module) => ({ default: module.ReconciliationDetailPage })),
);
const ReconciliationReportPage = lazy(() =>
  import("../pages/ReconciliationReport.tsx").then((module) => ({ default: module.ReconciliationReportPage })),
);
const OperatorLog = lazy(() => import("../pages/OperatorLog.tsx").then((module) => ({ default: module.OperatorLog })));

interface NavItem {
  href: string;
  label: string;
  /** The operator log names people and their addresses: the API keeps it from viewers, so does the menu. */
  operatorOnly?: boolean;
}

const nav: NavItem[] = [
  { href: "/", label: "Overview" },
  { href: "/runs", label: "Runs" },
  { href: "/events", label: "Events" },
  { href: "/dead-letters", label: "Dead letters" },
  { href: "/connections", label: "Connections" },
  { href: "/alerts", label: "Alerts" },
  { href: "/reconciliations", label: "Reconciliations" },
  { href: "/operator-log", label: "Operator log", operatorOnly: true },
];

/** The signed-in frame: navigation, who is signed in (and with which role), and the page. */
export function Shell() {
  const session = useSession();
  const [location] = useLocation();
  const queryClient = useQueryClient();
  const leave = useMutation({
    mutationFn: signOut,
    onSettled: () => {
      queryClient.clear();
      queryClient.setQueryData(["session"], null);
    },
  });
  const items = nav.filter((item) => !item.operatorOnly || canOperate(session.role));
  const main = useRef<HTMLElement>(null);
  const shownPath = useRef(location);
  // A new page (not a new filter of the same one: those change only the query) starts at its top with the keyboard
  // focus on its content, as a full page load would; a screen reader then starts reading there.
  useEffect(() => {
    if (shownPath.current === location) return;
    shownPath.current = location;
    window.scrollTo(0, 0);
    main.current?.focus({ preventScroll: true });
  }, [location]);

  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link href="/" className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Tenon
        </Link>
        <nav aria-label="Main" className="nav">
          <ul>
            {items.map((item) => {
              const active = item.href === "/" ? location === "/" : location.startsWith(item.href);
              return (
                <li key={item.href}>
                  <Link
                    href={item.href}
                    className={active ? "nav-link active" : "nav-link"}
                    aria-current={active ? "page" : undefined}
                  >
                    {item.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <div className="identity">
          <span className="identity-name" title={`Signed in as ${session.name}`}>
            <span className="visually-hidden">Signed in as </span>
            {session.name}
          </span>
          <span className={`role role-${session.role}`}>
            <span className="visually-hidden"> with the role </span>
            {session.role}
          </span>
          <button
            type="button"
            className="button button-quiet button-small"
            onClick={() => leave.mutate()}
            disabled={leave.isPending}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" className="page" tabIndex={-1} ref={main}>
        <Suspense fallback={<div className="page-loading" aria-busy="true" />}>
          <Switch>
            <Route path="/" component={Overview} />
            <Route path="/runs" component={Runs} />
            <Route path="/runs/:id">{(params) => <RunDetailPage id={params.id} />}</Route>
            <Route path="/events" component={Events} />
            <Route path="/events/:id">{(params) => <EventDetailPage id={params.id} />}</Route>
            <Route path="/dead-letters" component={DeadLetters} />
            <Route path="/connections" component={Connections} />
            <Route path="/alerts" component={Alerts} />
            <Route path="/reconciliations" component={Reconciliations} />
            <Route path="/reconciliations/:id">{(params) => <ReconciliationDetailPage id={params.id} />}</Route>
            <Route path="/reconciliations/:id/reports/:n">
              {(params) => (
                <ReconciliationReportPage key={`${params.id}/${params.n}`} id={params.id} number={params.n} />
              )}
            </Route>
            <Route path="/operator-log" component={OperatorLog} />
            <Route>
              <EmptyState title="No page here">
                <p>
                  Go to the <Link href="/">overview</Link> or the <Link href="/runs">runs</Link>.
                </p>
              </EmptyState>
            </Route>
          </Switch>
        </Suspense>
      </main>
    </div>
  );
}
