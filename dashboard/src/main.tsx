import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { ApiError } from "./api/client.ts";
import { prefetchFirstPage } from "./api/queries.ts";
import { App } from "./app/App.tsx";
import { NowProvider } from "./format/now.tsx";
import "./styles.css";

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // A 4xx will not change by asking again; a lost connection or a 5xx may.
      retry: (failures, error) =>
        failures < 2 && error instanceof ApiError && (error.status === 0 || error.status >= 500),
      staleTime: 2000,
    },
  },
});

prefetchFirstPage(queryClient, window.location.pathname);

const root = document.getElementById("root");
if (!root) throw new Error("index.html has no #root element");
createRoot(root).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <NowProvider>
        <App />
      </NowProvider>
    </QueryClientProvider>
  </StrictMode>,
);
