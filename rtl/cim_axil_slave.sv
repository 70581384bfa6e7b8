// AXI4-Lite slave -> one-transaction-at-a-time request port (docs/arithmetic.md §5).
//
// * One transaction at a time: a new request is accepted only while no response is
//   outstanding (idle = no RVALID and no BVALID).
// * When idle and both a read and a write are pending, the read is accepted first
//   (ARREADY = idle; AWREADY/WREADY are held low while ARVALID is high).
// * AW and W are accepted together, on the same edge, and only when both are valid.
// * The access happens on the handshake edge: req_valid_o is high during the cycle that
//   ends with the handshake edge, the register file samples the request on that edge,
//   and its combinational response code is registered here into RRESP or BRESP.  The
//   read data (from the state before the edge) is registered on the same edge by the
//   register file, and RDATA is that register.
// Reset: asynchronous, active low (rst_ni), like the rest of the macro.
`include "cim_reg_pkg.svh"
module cim_axil_slave import cim_reg_pkg::*; (
  input  logic                      clk_i,
  input  logic                      rst_ni,
  // AXI4-Lite slave (conventional names so cocotbext-axi binds to the "s_axil" prefix)
  input  logic [CIM_ADDR_WIDTH-1:0] s_axil_awaddr,
  input  logic [2:0]                s_axil_awprot,
  input  logic                      s_axil_awvalid,
  output logic                      s_axil_awready,
  input  logic [31:0]               s_axil_wdata,
  input  logic [3:0]                s_axil_wstrb,
  input  logic                      s_axil_wvalid,
  output logic                      s_axil_wready,
  output logic [1:0]                s_axil_bresp,
  output logic                      s_axil_bvalid,
  input  logic                      s_axil_bready,
  input  logic [CIM_ADDR_WIDTH-1:0] s_axil_araddr,
  input  logic [2:0]                s_axil_arprot,
  input  logic                      s_axil_arvalid,
  output logic                      s_axil_arready,
  output logic [31:0]               s_axil_rdata,
  output logic [1:0]                s_axil_rresp,
  output logic                      s_axil_rvalid,
  input  logic                      s_axil_rready,
  // request port: valid in the cycle that ends with the handshake edge
  output logic                      req_valid_o,
  output logic                      req_write_o,
  output logic [CIM_ADDR_WIDTH-1:0] req_addr_o,
  output logic [CIM_ADDR_WIDTH-1:0] rd_addr_o,   // the address a read presents (see below)
  output logic [31:0]               req_wdata_o,
  output logic [3:0]                req_wstrb_o,
  // response of the register file: the data of the last read (registered there on its
  // handshake edge) and the response code of the current request (combinational)
  input  logic [31:0]               rsp_rdata_i,
  input  logic [1:0]                rsp_resp_i
);

  // ---------------------------------------------------------------- state
  reg        rvalid_q;
  reg [1:0]  rresp_q;
  reg        bvalid_q;
  reg [1:0]  bresp_q;

  // ---------------------------------------------------------------- handshakes
  wire idle     = ~rvalid_q & ~bvalid_q;
  wire rd_go    = idle & s_axil_arvalid;                                   // AR handshake
  wire wr_go    = idle & ~s_axil_arvalid & s_axil_awvalid & s_axil_wvalid;  // AW+W handshake

  assign s_axil_arready = idle;
  assign s_axil_awready = wr_go;
  assign s_axil_wready  = wr_go;

  assign req_valid_o = rd_go | wr_go;
  assign req_write_o = wr_go;
  // The address of a request: while ARVALID the read's (a read goes first), else the
  // write's.  The same as selecting on rd_go whenever req_valid_o is high, but it does
  // not flip back to the write address on every read's handshake edge (each flip re-ran
  // the register file's access check and decode, in Icarus half the cost of a read).
  assign req_addr_o  = s_axil_arvalid ? s_axil_araddr : s_axil_awaddr;
  // The register file's read-data mux selects on this, not on req_addr_o: on a read's
  // handshake the two are equal, and writes (most of the traffic) never change it, so
  // they never re-run the mux (in Icarus that halved the cost of an INBUF word write).
  assign rd_addr_o   = s_axil_araddr;
  assign req_wdata_o = s_axil_wdata;
  assign req_wstrb_o = s_axil_wstrb;

  // One clocked block with enables, no next-state process: the response is only looked
  // at on a handshake edge.  Later assignments win: a new response over the end of the
  // last one.
  // The edge does anything only with a handshake or a response out: tested as one net,
  // since in Icarus every signal a process reads costs about 500 host instructions (a
  // dynamic_cast per load), and most edges of a run are idle.
  wire act = ~idle | rd_go | wr_go;

  always @(posedge clk_i or negedge rst_ni) begin
    if (!rst_ni) begin
      rvalid_q <= 1'b0;
      rresp_q  <= 2'b00;
      bvalid_q <= 1'b0;
      bresp_q  <= 2'b00;
    end else if (act) begin
      if (rvalid_q && s_axil_rready) begin
        rvalid_q <= 1'b0;
      end
      if (bvalid_q && s_axil_bready) begin
        bvalid_q <= 1'b0;
      end
      if (rd_go) begin
        rvalid_q <= 1'b1;
        rresp_q  <= rsp_resp_i;
      end else if (wr_go) begin
        bvalid_q <= 1'b1;
        bresp_q  <= rsp_resp_i;
      end
    end
  end

  assign s_axil_rvalid = rvalid_q;
  assign s_axil_rdata  = rsp_rdata_i;
  assign s_axil_rresp  = rresp_q;
  assign s_axil_bvalid = bvalid_q;
  assign s_axil_bresp  = bresp_q;

  // Protection bits carry no meaning for this slave.
  wire unused_prot = ^{s_axil_awprot, s_axil_arprot};

endmodule
